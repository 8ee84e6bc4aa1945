import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { ReprocessSummary } from '../../lambdas/reprocess/drain';
import type { FailedInvocationItem, FailedInvocationsSummary } from '../../lambdas/reprocess/failed-invocations';
import type { ReprocessResult } from '../../lambdas/reprocess/handler';
import { writeSwitch } from '../../cli/holds';
import type { AsyncInvocation } from './lambda-async';

/**
 * The simulated on-call engineer of the offline day. Everything it does goes through what a person
 * has: the coordination table's hold item, written exactly as the operator CLI's `hold` / `unhold`
 * write it (cli/holds.ts `writeSwitch`); the reprocess Lambda with a normal payload
 * (docs/reprocess.md) to replay the spool and to re-run failed invocations (docs/runbook.md, "Re-run
 * a failed invocation"); StopExecution on the Step Functions API. When it acts is the run's decision
 * (local/offline-day/run.ts); this module is how.
 */

/** One reprocess invocation the operator made, for the report. */
export interface ReplayRound {
  readonly at: string;
  readonly errorType: string;
  readonly started: number;
  readonly resumed: number;
  readonly alreadyStarted: number;
  readonly held: number;
  readonly invalid: number;
  readonly remaining: number | null;
}

/** One reprocess run on the failed-invocations queue (the runbook's dry run, or its re-run), for the report. */
export interface FailedInvocationsRun {
  readonly at: string;
  /** The payload given to reprocess (`source: "failedInvocations"`). */
  readonly payload: Record<string, unknown>;
  readonly dryRun: boolean;
  readonly wouldReinvoke: number;
  readonly reinvoked: number;
  readonly invalid: number;
  readonly failed: number;
  readonly skipped: number;
  /** Records left in the queue when reprocess answered. */
  readonly remaining: number | null;
}

/** A failed invocation the operator re-ran through reprocess, and what the re-invoked function answered. */
export interface TickRerun {
  /** Reprocess's label of the function (`producer:<job>`, `executionCapture`, ...). */
  readonly function: string;
  /** The function's logical id (the function Lambda ran). */
  readonly functionId: string;
  /** A producer's tick, as reprocess's item shows it. */
  readonly tick: string | null;
  /** The event the function was invoked with again (the record's requestPayload). */
  readonly event: unknown;
  readonly at: string;
  /** The reprocess run that re-invoked it and the record it came from. */
  readonly via: { readonly source: 'failedInvocations'; readonly messageId: string | null };
  /** Lambda's attempts of the re-invocation (its retries follow on the simulated clock). */
  readonly attempts: number;
  /** The producer's summary outcome (`planned`, `alreadyPlanned`, `busy`); else the error name and Lambda's state of the event. */
  readonly outcome: string;
  readonly tasks: number | null;
}

/** An asynchronous invocation Lambda ran for an Invoke it accepted, with reprocess's label of the function. */
export interface AcceptedInvocation {
  readonly label: string;
  readonly invocation: AsyncInvocation;
}

export interface OperatorDeps {
  readonly now: () => Date;
  /** `yyyy-MM-dd HH:mm` in the app time zone, for the report. */
  readonly localTime: (at: Date) => string;
  readonly progress: (line: string) => void;
  readonly ddb: DynamoDBClient;
  readonly coordinationTable: string;
  readonly sfn: SFNClient;
  /** What waits in the spool, by error (what the console or `scheduled-jobs status` shows). */
  readonly spoolErrors: () => Promise<ReadonlyMap<string, number>>;
  /** Records in the failed-invocations queue (what `scheduled-jobs status` or the console shows); 0 without one. */
  readonly failedInvocationsWaiting: () => Promise<number>;
  /** Invokes the reprocess function (synchronously) with a payload; its summary. */
  readonly reprocess: (payload: Record<string, unknown>) => Promise<ReprocessResult>;
  /**
   * Lets Lambda run the asynchronous invocations it accepted since the last call (reprocess's
   * re-invokes) and settles what they started; resolves with them once run.
   */
  readonly runAcceptedInvocations: () => Promise<AcceptedInvocation[]>;
  /** Runs whatever the last action started (tick queue, executions, captures). */
  readonly settle: () => Promise<void>;
  /** Error names a replay can fix, in the order the operator replays them. */
  readonly replayable: ReadonlyArray<string>;
}

/** Reprocess's `max` bound (docs/reprocess.md, "Limits and knobs"). */
const MAX_PER_INVOKE = 10_000;

export class Operator {
  readonly replayRounds: ReplayRound[] = [];
  readonly holdChanges: Array<{ readonly dependency: string; readonly on: boolean; readonly at: string }> = [];
  readonly stops: Array<{ readonly executionArn: string; readonly at: string }> = [];
  readonly reruns: TickRerun[] = [];
  readonly failedInvocationRuns: FailedInvocationsRun[] = [];

  constructor(private readonly d: OperatorDeps) {}

  /** `scheduled-jobs hold <dependency> --reason <why>`: the switch on. */
  async hold(dependency: string, reason: string): Promise<void> {
    await writeSwitch(this.d.ddb, this.d.coordinationTable, dependency, true, { by: 'offline-day operator', reason, now: this.d.now() });
    this.holdChanges.push({ dependency, on: true, at: this.d.localTime(this.d.now()) });
    this.d.progress(`  operator: hold ${dependency} (${reason})`);
  }

  /** `scheduled-jobs unhold <dependency>`: the switch off. */
  async unhold(dependency: string): Promise<void> {
    await writeSwitch(this.d.ddb, this.d.coordinationTable, dependency, false, { by: 'offline-day operator', reason: null, now: this.d.now() });
    this.holdChanges.push({ dependency, on: false, at: this.d.localTime(this.d.now()) });
    this.d.progress(`  operator: unhold ${dependency}`);
  }

  /** Stops an execution that is stuck (the console's Stop button: StopExecution with an error and cause). */
  async stop(executionArn: string, cause: string): Promise<void> {
    await this.d.sfn.send(new StopExecutionCommand({ executionArn, error: 'StoppedByOperator', cause }));
    this.stops.push({ executionArn, at: this.d.localTime(this.d.now()) });
    this.d.progress(`  operator: stopped ${executionArn.split(':').pop()} (${cause})`);
  }

  /**
   * docs/runbook.md, "Re-run a failed invocation", through reprocess: when records wait, look first
   * (`{"source": "failedInvocations", "dryRun": true}`: each record's function, error and tick), then
   * re-run the records of the functions the dry run would re-invoke (`"functions": [...]`, the CLI's
   * `--function producer:<job>`). Reprocess invokes each one again ASYNCHRONOUSLY and deletes its
   * record; a function that fails again is retried by Lambda and writes a new record, so nothing is
   * lost. A record reprocess may not re-run (`invalid`) is left for a person. The caller decides when
   * the cause is fixed (step 2). Returns how many records were re-invoked.
   */
  async rerunFailedInvocations(): Promise<number> {
    const waiting = await this.d.failedInvocationsWaiting();
    if (waiting === 0) return 0;
    // `max` = what waits: the run stops at it instead of long-polling an empty queue.
    const lookPayload = { source: 'failedInvocations', dryRun: true, max: Math.min(waiting, MAX_PER_INVOKE) };
    const look = await this.failedInvocations(lookPayload);
    for (const item of look.items) {
      this.d.progress(`  operator: failed invocation ${describe(item)}: ${item.outcome === 'wouldReinvoke' ? 'to re-run' : `left for a person (${item.outcome}${item.reason ? `: ${item.reason}` : ''})`}`);
    }
    const labels = [...new Set(look.items.filter((i) => i.outcome === 'wouldReinvoke').map((i) => i.function as string))];
    if (labels.length === 0) return 0;
    const payload = { source: 'failedInvocations', functions: labels, max: Math.min(look.wouldReinvoke, MAX_PER_INVOKE) };
    const at = this.d.localTime(this.d.now());
    const run = await this.failedInvocations(payload);
    // Reprocess's invokes were accepted (202); Lambda now runs them, and what they start settles.
    const ran = await this.d.runAcceptedInvocations();
    const used = new Set<AcceptedInvocation>();
    const note = (label: string, tick: string | null, messageId: string | null, inv: AsyncInvocation | undefined, what: string): void => {
      const answer = inv?.result as { outcome?: unknown; tasks?: unknown } | undefined;
      let outcome = 'notRun';
      if (inv?.outcome === 'succeeded') outcome = typeof answer?.outcome === 'string' ? answer.outcome : 'succeeded';
      else if (inv) outcome = `${inv.errors[inv.errors.length - 1] ?? 'Error'} (${inv.outcome === 'pending' ? 'Lambda retries it' : inv.outcome})`;
      const tasks = inv?.outcome === 'succeeded' && typeof answer?.tasks === 'number' ? answer.tasks : null;
      this.reruns.push({ function: label, functionId: inv?.functionId ?? '', tick, event: inv?.event ?? null, at, via: { source: 'failedInvocations', messageId }, attempts: inv?.attempts ?? 0, outcome, tasks });
      this.d.progress(`  operator: re-ran ${what} through reprocess: ${outcome}, ${tasks ?? '?'} tasks`);
    };
    for (const item of run.items.filter((i) => i.outcome === 'reinvoked')) {
      const match = ran.find((r) => !used.has(r) && r.label === item.function && (item.tick === undefined || tickOf(r.invocation.event) === item.tick));
      if (match) used.add(match);
      note(item.function as string, item.tick ?? null, item.messageId, match?.invocation, describe(item));
    }
    // Past the summary's item list (50): what Lambda ran, without the record's message id.
    for (const r of ran.filter((x) => !used.has(x))) note(r.label, tickOf(r.invocation.event) ?? null, null, r.invocation, r.label);
    return run.reinvoked;
  }

  /** One reprocess run on the failed-invocations queue, recorded for the report. */
  private async failedInvocations(payload: Record<string, unknown>): Promise<FailedInvocationsSummary> {
    const at = this.d.localTime(this.d.now());
    const s = (await this.d.reprocess(payload)) as FailedInvocationsSummary;
    if (s.source !== 'failedInvocations') throw new Error(`reprocess answered a ${String((s as { source?: unknown }).source)} summary to a failedInvocations payload`);
    this.failedInvocationRuns.push({ at, payload, dryRun: s.dryRun, wouldReinvoke: s.wouldReinvoke, reinvoked: s.reinvoked, invalid: s.invalid, failed: s.failed, skipped: s.skipped, remaining: s.remaining });
    this.d.progress(
      `  reprocess ${JSON.stringify(payload)}: ${s.dryRun ? `would re-run ${s.wouldReinvoke}` : `re-invoked ${s.reinvoked}`}, invalid ${s.invalid}, failed ${s.failed}, left ~${s.remaining ?? '?'}`,
    );
    return s;
  }

  /**
   * Replays what a replay can fix: looks at which errors wait in the spool, then invokes reprocess
   * with `{"errorType": <error>, "max": <how many wait>, "from": "failed-step"}` for each replayable
   * one (so a run stops at `max`, not on an empty receive). A second pass picks up replays that
   * failed again with another error; a third is as far as a person at 3 a.m. goes before looking closer.
   */
  async replay(): Promise<void> {
    for (let pass = 0; pass < 3; pass++) {
      let startedThisPass = 0;
      const waiting = await this.d.spoolErrors();
      for (const errorType of this.d.replayable.filter((e) => (waiting.get(e) ?? 0) > 0)) {
        let left = waiting.get(errorType)!;
        while (left > 0) {
          const max = Math.min(left, MAX_PER_INVOKE);
          const s = (await this.d.reprocess({ errorType, max, from: 'failed-step' })) as ReprocessSummary;
          await this.d.settle();
          this.replayRounds.push({
            at: this.d.localTime(this.d.now()),
            errorType,
            started: s.started,
            resumed: s.resumed,
            alreadyStarted: s.alreadyStarted,
            held: s.held,
            invalid: s.invalid,
            remaining: s.remaining,
          });
          this.d.progress(
            `  replay {"errorType":"${errorType}","max":${max},"from":"failed-step"}: started ${s.started} (resumed ${s.resumed}), already started ${s.alreadyStarted}, held ${s.held}, quarantined ${s.invalid}, left in spool ~${s.remaining ?? '?'}`,
          );
          const done = s.started + s.alreadyStarted + s.alreadyHandled + s.invalid;
          startedThisPass += s.started + s.alreadyStarted;
          left -= done;
          if (done === 0 || s.stoppedBecause !== 'max') break;
        }
      }
      if (startedThisPass === 0) return;
    }
  }
}

/** A record as the dry run lists it: function, tick, error and attempts (never a payload's values). */
function describe(item: FailedInvocationItem): string {
  return `${item.function ?? '?'}${item.tick ? ` tick ${item.tick}` : ''} (${item.errorType ?? 'no error'}, ${item.condition ?? '?'} after ${item.approximateInvokeCount ?? '?'} attempts)`;
}

/** A producer event's tick (`scheduledTime`), if any. */
function tickOf(event: unknown): string | undefined {
  const t = (event as { scheduledTime?: unknown } | null)?.scheduledTime;
  return typeof t === 'string' ? t : undefined;
}
