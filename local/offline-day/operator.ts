import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { ReprocessSummary } from '../../lambdas/reprocess/drain';
import { writeSwitch } from '../../cli/holds';

/**
 * The simulated on-call engineer of the offline day. Everything it does goes through what a person
 * has: the coordination table's hold item, written exactly as the operator CLI's `hold` / `unhold`
 * write it (cli/holds.ts `writeSwitch`); the reprocess Lambda with a normal payload
 * (docs/reprocess.md); StopExecution on the Step Functions API; and the failed-invocations queue
 * read and re-run as docs/big-ticks.md's runbook says. When it acts is the run's decision
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

/** A failed tick the operator re-ran from its on-failure record. */
export interface TickRerun {
  readonly functionId: string;
  /** The record's requestPayload. */
  readonly event: unknown;
  readonly at: string;
  /** The producer's summary outcome (`planned`, `alreadyPlanned`, `busy`), or the error name. */
  readonly outcome: string;
  readonly tasks: number | null;
}

export interface OperatorDeps {
  readonly now: () => Date;
  /** `yyyy-MM-dd HH:mm` in the app time zone, for the report. */
  readonly localTime: (at: Date) => string;
  readonly progress: (line: string) => void;
  readonly ddb: DynamoDBClient;
  readonly coordinationTable: string;
  readonly sqs: SQSClient;
  readonly sfn: SFNClient;
  /** The spool's failed-invocations queue (the producers' on-failure destination), if any. */
  readonly failedInvocationsUrl: string | null;
  /** What waits in the spool, by error (what the console or `scheduled-jobs status` shows). */
  readonly spoolErrors: () => Promise<ReadonlyMap<string, number>>;
  /** Invokes the reprocess function (synchronously) with a payload. */
  readonly reprocess: (payload: Record<string, unknown>) => Promise<ReprocessSummary>;
  /** `aws lambda invoke`: runs a function synchronously with an event; throws its error. */
  readonly invokeFunction: (functionId: string, event: unknown) => Promise<unknown>;
  /** The function's logical id from the ARN in an on-failure record. */
  readonly functionIdOfArn: (arn: string) => string | undefined;
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
   * The failed-invocations runbook (docs/big-ticks.md, "Re-running a tick"): read each record,
   * invoke its function with the record's requestPayload, and delete the record once the re-run
   * answered. A re-run that fails leaves its record for the next look.
   */
  async rerunFailedInvocations(): Promise<number> {
    if (!this.d.failedInvocationsUrl) return 0;
    let rerun = 0;
    for (;;) {
      const res = await this.d.sqs.send(new ReceiveMessageCommand({ QueueUrl: this.d.failedInvocationsUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300 }));
      const messages = res.Messages ?? [];
      if (messages.length === 0) return rerun;
      for (const m of messages) {
        const record = JSON.parse(m.Body ?? '{}') as { requestContext?: { functionArn?: string }; requestPayload?: unknown };
        const functionArn = (record.requestContext?.functionArn ?? '').replace(/:\$LATEST$/, '');
        const functionId = this.d.functionIdOfArn(functionArn);
        if (!functionId) {
          this.d.progress(`  operator: a failed-invocation record of an unknown function ${functionArn}: left for a person`);
          continue;
        }
        const at = this.d.localTime(this.d.now());
        try {
          const summary = (await this.d.invokeFunction(functionId, record.requestPayload)) as { outcome?: string; tasks?: number } | undefined;
          await this.d.settle();
          await this.d.sqs.send(new DeleteMessageCommand({ QueueUrl: this.d.failedInvocationsUrl, ReceiptHandle: m.ReceiptHandle }));
          this.reruns.push({ functionId, event: record.requestPayload, at, outcome: summary?.outcome ?? 'done', tasks: summary?.tasks ?? null });
          rerun += 1;
          this.d.progress(`  operator: re-ran ${JSON.stringify(record.requestPayload)} on ${functionId} from its failed-invocation record: ${summary?.outcome ?? 'done'}, ${summary?.tasks ?? '?'} tasks`);
        } catch (e) {
          this.reruns.push({ functionId, event: record.requestPayload, at, outcome: e instanceof Error ? e.name : 'Error', tasks: null });
          this.d.progress(`  operator: the re-run of ${JSON.stringify(record.requestPayload)} failed (${e instanceof Error ? e.name : 'Error'}): the record stays`);
        }
      }
    }
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
          const s = await this.d.reprocess({ errorType, max, from: 'failed-step' });
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
