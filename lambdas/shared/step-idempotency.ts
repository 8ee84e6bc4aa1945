import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { TaskError } from './errors';
import { JsonValue } from './json';
import { STEP_ENV } from './workflow-contract';

/**
 * Idempotent steps: every step call has a stable key (task id, step name, map item index) and its
 * completed result is recorded, so that a replay (attempt N+1), a replay resumed inside a map or a
 * group, a Lambda redelivery or an overlap with a still-running Lambda of an ended execution gets
 * the recorded result instead of doing the step's side effect again.
 *
 * Built on Powertools Idempotency (`makeIdempotent` over its DynamoDB persistence layer), in the
 * step-results table (lib/step-results-table.ts) under `idem#<job>#<hash of the key>`:
 * - the key leaves out the attempt: every attempt of the task finds the record;
 * - a result is recorded only when the step returns; a step that throws leaves no record (Powertools
 *   deletes its in-progress record), so a failed step runs again on a replay;
 * - what the step was given (`previous`, the map index) is hashed into the record (Powertools payload
 *   validation): the same key with other input fails with `IdempotencyValidationError` instead of
 *   silently returning a result computed for something else;
 * - while a call runs, its record is "in progress" until the Lambda's remaining time has passed (a
 *   crashed or timed-out Lambda does not block its key longer); a second call meanwhile (a
 *   redelivery, the replay of an execution stopped under a running Lambda) waits for it within its
 *   own deadline, then fails with {@link StepInProgressError};
 * - records expire after {@link DEFAULT_RECORD_DAYS} days: longer than a failure can wait in the
 *   spool and still be replayed (14 days of SQS retention, re-sent by the sweeper before that) plus a
 *   replay window, and than a tick may be re-planned (30 days, lambdas/shared/tick-ledger.ts).
 *
 * The recorded result is the step's output (kept small by the step budget), which may hold personal
 * data: the table is inside the read lock (encrypted with the params key, whose key policy lets only
 * the job's step roles decrypt through it; docs/security.md).
 */

/** How long a completed step's result is kept, days. */
export const DEFAULT_RECORD_DAYS = 45;

/** Partition-key prefix of a job's step records in the step-results table (IAM `dynamodb:LeadingKeys`). */
export function stepRecordPrefix(job: string): string {
  return `idem#${job}`;
}

/**
 * The idempotency key of one step call: `<taskId>#<step>` and, inside a map, `#<item index>`. A
 * branch of a parallel group is told apart by its step's name (step names are unique in a job).
 * Stable across attempts, replays, redeliveries and deploys that keep the step's name. After an
 * operator's start-over (`rerunFrom`, envelope.ts) the task id is followed by `#r<attempt>`: the
 * operator asked for every step to run again, so earlier records are not reused.
 */
export function stepIdempotencyKey(taskId: string, step: string, index?: number, rerunFrom?: number): string {
  const task = rerunFrom === undefined ? taskId : `${taskId}#r${rerunFrom}`;
  return index === undefined ? `${task}#${step}` : `${task}#${step}#${index}`;
}

/**
 * A second call of a step was made while the first still runs (a redelivery, or the replay of an
 * execution that was stopped or timed out while its step Lambda kept running), and the first did not
 * finish within this call's deadline. Nothing was done twice. List it in `retryableErrors` to retry
 * it, or replay the task later: the first call's result will be there.
 */
export class StepInProgressError extends TaskError {
  constructor(message: string) {
    super(message);
  }
}

/** What the wrapper asks of a call. */
export interface IdempotentCall {
  readonly job: string;
  readonly key: string;
  /** What the step was given; a record made for other input is refused. */
  readonly input: JsonValue;
  /** Milliseconds left before the step's deadline (how long a call may wait for one in progress). */
  readonly remainingMs: () => number;
  /** The Lambda context: an in-progress record expires with the Lambda's remaining time. */
  readonly lambdaContext?: Pick<Context, 'getRemainingTimeInMillis'>;
  /**
   * Told each time the call finds another call of its key in progress and waits for it; the
   * wrapper then reports its own deadline, should it fall during the wait, as that call still
   * running (retryable) rather than as this step timing out (never retried).
   */
  readonly onInProgress?: () => void;
}

/** Runs a step call at most once per key (see the module comment). */
export interface StepIdempotency {
  /** `replayed`: the result is the recorded one, the step did not run. */
  run(call: IdempotentCall, step: () => Promise<JsonValue>): Promise<{ result: JsonValue; replayed: boolean }>;
}

/** Options of {@link dynamoStepIdempotency}. */
export interface DynamoStepIdempotencyOptions {
  readonly tableName: string;
  readonly client?: DynamoDBClient;
  /** @default {@link DEFAULT_RECORD_DAYS} days */
  readonly expiresAfterSeconds?: number;
  /** First wait while another call of the key is in progress, doubled up to 2 s. @default 200 */
  readonly pollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The step records in a DynamoDB table keyed by `pk`, TTL attribute `expiresAt` (lib/step-results-table.ts). */
export function dynamoStepIdempotency(options: DynamoStepIdempotencyOptions): StepIdempotency {
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: options.tableName,
    keyAttr: 'pk',
    // The table's TTL attribute: DynamoDB collects expired records (Powertools checks expiry itself).
    expiryAttr: 'expiresAt',
    ...(options.client ? { awsSdkV3Client: options.client } : {}),
  });
  const expiresAfterSeconds = options.expiresAfterSeconds ?? DEFAULT_RECORD_DAYS * 86_400;
  const pollMs = options.pollMs ?? 200;
  return {
    async run(call, step) {
      let ran = false;
      // One config per call: it carries this invocation's Lambda context (the in-progress expiry).
      const config = new IdempotencyConfig({
        eventKeyJmesPath: 'key',
        payloadValidationJmesPath: 'input',
        throwOnNoIdempotencyKey: true,
        expiresAfterSeconds,
        hashFunction: 'sha256',
        ...(call.lambdaContext ? { lambdaContext: call.lambdaContext as Context } : {}),
      });
      const once = makeIdempotent(
        async (_record: { key: string; input: JsonValue }, run: () => Promise<JsonValue>) => {
          ran = true;
          return run();
        },
        { persistenceStore, config, keyPrefix: stepRecordPrefix(call.job), dataIndexArgument: 0 },
      );
      let wait = pollMs;
      for (;;) {
        try {
          const result = (await once({ key: call.key, input: call.input }, step)) as JsonValue | undefined;
          return { result: result === undefined ? null : result, replayed: !ran };
        } catch (e) {
          if ((e as Error)?.name !== 'IdempotencyAlreadyInProgressError') throw e;
          call.onInProgress?.();
          // Another call of this key runs (a redelivery, a Lambda of a stopped execution): its result
          // will be recorded, or its in-progress record expires with its Lambda. Wait within our deadline.
          if (call.remainingMs() <= wait) {
            throw new StepInProgressError('another call of this step for this task is still running (a redelivered invocation, or a Lambda of an ended execution); nothing was done twice');
          }
          await sleep(wait);
          wait = Math.min(wait * 2, 2_000);
        }
      }
    },
  };
}

/**
 * The step records from the step's environment (`STEP_RESULTS_TABLE`, set by the JobWorkflow
 * construct on every step), or null when the variable is absent (a handler run outside the stack).
 */
export function stepIdempotencyFromEnv(env: NodeJS.ProcessEnv, client?: DynamoDBClient): StepIdempotency | null {
  const tableName = env[STEP_ENV.stepResultsTable];
  if (!tableName) return null;
  const days = env[STEP_ENV.stepResultsDays];
  return dynamoStepIdempotency({ tableName, client, ...(days ? { expiresAfterSeconds: Number(days) * 86_400 } : {}) });
}
