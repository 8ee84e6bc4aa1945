import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { errorName } from '../shared/errors';
import { producerLabel, TickOptions } from './payload';

/**
 * `source: "tick"`: one tick of a job, run again through the job's producer, for the operator who may
 * invoke only reprocess (people get lambda:InvokeFunction on reprocess alone; reprocess holds it on
 * the producers). Without `replan` the producer does what a redelivered tick does: nothing when the
 * tick is planned, resume when its planning failed half-way. With `replan` it plans a planned tick
 * again (lambdas/producer/logic.ts): every task of the tick is attempted once more, the ones already
 * started are answered ExecutionAlreadyExists and recorded Duplicate, and the ones rejected before
 * that are valid now start.
 *
 * The producer is invoked SYNCHRONOUSLY so the operator sees its answer (tasks planned, rejected):
 * a failure comes back to them (a synchronous invoke has no on-failure destination) and nothing of
 * the tick is lost by it: the ledger keeps what was done, and running it again resumes.
 */

/** The producer's answer (lambdas/producer/logic.ts TickSummary), as JSON. */
export type ProducerAnswer = Record<string, unknown>;

/** What a tick run did. Names, the tick and the producer's counts: never params. */
export interface TickRunSummary {
  readonly source: 'tick';
  readonly dryRun: boolean;
  readonly job: string;
  /** The tick (ISO-8601, UTC) sent to the producer as `scheduledTime`. */
  readonly tick: string;
  readonly replan: boolean;
  /** The tick was older than 42 days and the operator forced it. */
  readonly force?: true;
  /** The producer's label (`producer:<job>`). */
  readonly function: string;
  /** `invoked` (the producer answered), `wouldInvoke` (dry run), `failed` (the producer or the invoke failed). */
  readonly outcome: 'invoked' | 'wouldInvoke' | 'failed';
  /** The producer's summary: `planned` / `alreadyPlanned` / `busy`, tasks, rejected, batches, `replanned`. */
  readonly producer: ProducerAnswer | null;
  /** Why it failed: the error NAME only (a producer's message may hold what its `produce` read); the producer's log has the rest. */
  readonly error?: string;
  readonly durationMs: number;
}

/** What {@link rerunTick} needs. */
export interface TickRunDeps {
  readonly lambda: LambdaClient;
  /** label -> unqualified function ARN (env INVOCABLE_FUNCTIONS). */
  readonly functions: ReadonlyMap<string, string>;
  readonly now?: () => number;
}

/** Runs one tick through its job's producer (or, dry run, says what it would send). */
export async function rerunTick(deps: TickRunDeps, o: TickOptions): Promise<TickRunSummary> {
  const now = deps.now ?? Date.now;
  const t0 = now();
  const label = producerLabel(o.job);
  const arn = deps.functions.get(label);
  const base = { source: 'tick' as const, dryRun: o.dryRun, job: o.job, tick: o.scheduledTime, replan: o.replan, ...(o.force ? { force: true as const } : {}), function: label };
  const done = (rest: Pick<TickRunSummary, 'outcome' | 'producer'> & { error?: string }): TickRunSummary => ({ ...base, ...rest, durationMs: now() - t0 });
  // The payload parser checked the job against the same list; this is the construct's contract.
  if (!arn) return done({ outcome: 'failed', producer: null, error: `NoProducer: ${label} is not in INVOCABLE_FUNCTIONS` });
  if (o.dryRun) return done({ outcome: 'wouldInvoke', producer: null });
  const payload = { scheduledTime: o.scheduledTime, ...(o.replan ? { replan: true } : {}), ...(o.ignorePause ? { ignorePause: true } : {}), ...(o.force ? { force: true } : {}) };
  let r;
  try {
    r = await deps.lambda.send(new InvokeCommand({ FunctionName: arn, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(payload)) }));
  } catch (e) {
    return done({ outcome: 'failed', producer: null, error: `Invoke: ${errorName(e)}` });
  }
  let body: unknown = null;
  try {
    body = JSON.parse(Buffer.from(r.Payload ?? new Uint8Array()).toString('utf8') || 'null');
  } catch {
    body = null;
  }
  // A function error is still HTTP 200, with FunctionError set and {errorType, errorMessage} as the payload (AWS Lambda API reference, "Invoke").
  if (r.FunctionError) {
    const type = typeof (body as { errorType?: unknown })?.errorType === 'string' ? (body as { errorType: string }).errorType : r.FunctionError;
    return done({ outcome: 'failed', producer: null, error: type });
  }
  return done({ outcome: 'invoked', producer: typeof body === 'object' && body !== null ? (body as ProducerAnswer) : { answer: body } });
}
