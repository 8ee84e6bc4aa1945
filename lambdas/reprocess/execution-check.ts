import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { errorMessage, errorName } from '../shared/errors';

/**
 * The look at an ended execution before its message is replayed (kind ExecutionEnded only, see
 * message.ts): an execution that ended outside the Catch (aborted, timed out, an uncatchable error)
 * reruns its unsuccessful step when someone redrives it from the console (AWS Step Functions
 * developer guide, "Redriving executions"). If it runs again, or ran again and succeeded, starting
 * attempt N+1 would run the task twice: the message is already handled.
 */

/**
 * Statuses that mean "running again, or done": a redrive is under way (PENDING_REDRIVE, RUNNING) or
 * finished well (SUCCEEDED). FAILED / TIMED_OUT / ABORTED: not redriven, or redriven and failed
 * again; then the replay goes ahead (a second message for the same attempt, spooled by the
 * redriven run's own Catch, maps to the same execution name and cannot start a second run).
 */
export const HANDLED_STATUSES: ReadonlySet<string> = new Set(['RUNNING', 'PENDING_REDRIVE', 'SUCCEEDED']);

/**
 * Paces DescribeExecution on its own: the quota is far smaller than StartExecution's (250 burst,
 * 10/s refill in most regions; 300 / 15 in the three large ones: AWS Step Functions developer
 * guide, "Step Functions service quotas", API action throttling) and is shared with the
 * status-change capture, which describes every failed execution of a CMK-encrypted state machine.
 * So reprocess takes about half the refill and a small burst, and halves its pace on a throttle.
 */
export interface DescribePacerOptions {
  /** Calls per second. @default 5 */
  readonly ratePerSecond?: number;
  /** Calls that may go at once before pacing starts. @default 20 */
  readonly burst?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export class DescribePacer {
  private rate: number;
  /** Theoretical arrival time of the next call (GCRA): calls may run ahead of it by `burst - 1` intervals. */
  private tat = 0;
  private throttles = 0;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(o: DescribePacerOptions = {}) {
    this.rate = o.ratePerSecond ?? 5;
    this.burst = o.burst ?? 20;
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Current pace, calls per second. */
  get currentRate(): number {
    return this.rate;
  }

  /** Throttle events seen. */
  get throttleEvents(): number {
    return this.throttles;
  }

  /** Waits for a slot; false, without waiting, when the slot would come at or after `deadlineMs`. */
  async acquire(deadlineMs: number): Promise<boolean> {
    const now = this.now();
    const interval = 1000 / this.rate;
    const tat = Math.max(this.tat, now);
    const slot = Math.max(now, tat - (this.burst - 1) * interval);
    if (slot >= deadlineMs) return false;
    this.tat = tat + interval;
    if (slot > now) await this.sleep(slot - now);
    return true;
  }

  /** The server said "slow down": half the pace, no burst left, and a second's pause for everyone. */
  onThrottle(): void {
    this.throttles++;
    this.rate = Math.max(1, this.rate / 2);
    this.tat = Math.max(this.tat, this.now() + 1000 + (this.burst - 1) * (1000 / this.rate));
  }
}

/** The answer of the look. */
export type ExecutionCheck =
  | { readonly outcome: 'alreadyHandled'; readonly status: string; readonly redriveCount: number }
  | { readonly outcome: 'replay' }
  | { readonly outcome: 'failed'; readonly reason: string }
  | { readonly outcome: 'notAttempted' };

const THROTTLES = new Set(['ThrottlingException', 'TooManyRequestsException', 'Throttling', 'RequestLimitExceeded']);

/**
 * Describes the execution (metadata only: status and redrive count are all it needs, and the
 * execution's input and output, params, stay encrypted: `includedData: METADATA_ONLY` needs no
 * kms:Decrypt, AWS Step Functions developer guide, "Data at rest encryption"), paced, retried on
 * throttling until `deadlineMs`.
 */
export async function checkEndedExecution(sfn: SFNClient, executionArn: string, pacer: DescribePacer, deadlineMs: number): Promise<ExecutionCheck> {
  let transient = 0;
  for (;;) {
    if (!(await pacer.acquire(deadlineMs))) return { outcome: 'notAttempted' };
    try {
      const d = await sfn.send(new DescribeExecutionCommand({ executionArn, includedData: 'METADATA_ONLY' }));
      const status = String(d.status ?? '');
      if (HANDLED_STATUSES.has(status)) return { outcome: 'alreadyHandled', status, redriveCount: d.redriveCount ?? 0 };
      return { outcome: 'replay' };
    } catch (e) {
      const name = errorName(e);
      // Gone (history is kept 90 days): nothing can be running; replay.
      if (name === 'ExecutionDoesNotExist') return { outcome: 'replay' };
      if (THROTTLES.has(name) || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 429) {
        pacer.onThrottle();
        continue;
      }
      if ((e as { $retryable?: unknown }).$retryable && ++transient <= 3) continue;
      return { outcome: 'failed', reason: `DescribeExecution: ${name}: ${errorMessage(e).slice(0, 200)}` };
    }
  }
}
