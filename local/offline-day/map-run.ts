import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
import { ChildExecutionResult, parseManifest, parseResultFile, ResultFileRef, ResultManifest } from '../../lambdas/map-failures/result-writer';
import { parseEnvelope, TaskEnvelope } from '../../lambdas/shared/envelope';
import { SPOOLED_CAUSE_PREFIX } from '../../lambdas/shared/workflow-contract';
import { AslDefinition, definitionOf } from '../asl';
import { localEnv, RefResolver, SynthesizedApp } from './app-model';
import { createExecutionRunner, ExecutionOutcome, LocalHandler } from './executions';

/**
 * A Map Run stand-in for the high-volume parent (lib/high-volume-workflow.ts), because
 * aws-local-stepfunctions runs a Distributed Map only as an inline Map (no ItemBatcher, ResultWriter
 * or Express children). It takes the SYNTHESIZED parent definition and does what the AWS Step
 * Functions developer guide documents for its Distributed Map state, no more:
 * - items from `ItemsPath`, batched per `ItemBatcher.MaxItemsPerBatch` and `MaxInputBytesPerBatch`
 *   (greedy, in order: how Step Functions fills a batch is not documented further), each batch the input
 *   `{"Items": [...]}` of one child ("ItemBatcher (Map)",
 *   https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itembatcher.html);
 * - the synthesized CHILD definition (`ItemProcessor`) run per batch in aws-local-stepfunctions with
 *   the real handlers, at most `MaxConcurrency` children at once;
 * - Express children are at least once ("Choosing workflow type",
 *   https://docs.aws.amazon.com/step-functions/latest/dg/choosing-workflow-type.html): the `aws`
 *   world repeats a child now and then (both runs' effects happen), and ends one at its five minutes
 *   now and then (TIMED_OUT after its first step: its other items neither finish nor are spooled by
 *   their Catch, and no RecordBatch runs);
 * - the Map state fails with `States.ExceedToleratedFailureThreshold` when more children failed than
 *   `ToleratedFailurePercentage` allows;
 * - the ResultWriter's `manifest.json` and `<STATUS>_<n>.json` files as "ResultWriter (Map)"
 *   documents them (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html),
 *   written with the real S3 API to the S3 stand-in, and checked with the post-map Lambda's own parser
 *   (lambdas/map-failures/result-writer.ts) so the two agree;
 * - then the parent goes on from the Map's `Next` (`SpoolFailedChildren`, the real map-failures
 *   handler, which reads those files through its own S3 client) with `{MapRunArn,
 *   ResultWriterDetails}` under the Map's `ResultPath`.
 */

/** One item's end in a child, for the run's books (no params). */
export interface MapItemEnd {
  readonly childArn: string;
  readonly envelope: TaskEnvelope;
  /** SUCCEEDED when RecordBatch reported it without error; FAILED otherwise. */
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly error?: string;
  /**
   * A failed item's cause, starting with the workflow's spooled marker when the workflow spooled it:
   * its Catch's SpoolItem (RecordBatch saw its error and no spool error), or the parent's post-map
   * step (its child failed and SpoolFailedChildren then succeeded). Without the marker the books
   * count it unspooled (lost).
   */
  readonly cause?: string;
}

export interface MapRunFaults {
  /** Step Functions runs this child a second time (Express: at least once). */
  childTwice(key: string): boolean;
  /** The child reaches its five minutes (ended TIMED_OUT after its first step). */
  childTimedOut(key: string): boolean;
}

export interface MapRunDeps {
  readonly model: SynthesizedApp;
  readonly ref: RefResolver;
  readonly sqs: SQSClient;
  /** S3 client on the S3 stand-in (the one the post-map Lambda's AWS_ENDPOINT_URL_S3 names). */
  readonly s3: S3Client;
  /** The handler of a Lambda function by its logical id (the run's wrapped one). */
  readonly handlerFor: (logicalId: string) => LocalHandler;
  readonly stepTimeoutSeconds: number;
  readonly executionTimeoutSeconds: number;
  readonly faults: MapRunFaults;
  /** Each item's end, as its child (or the last run of it) ended. */
  readonly onItem: (end: MapItemEnd) => void;
  /** Run the parent's post-map step. False ends the parent after its map (a broken deployment, for tests). @default true */
  readonly postMapStep?: boolean;
}

/** What the stand-in did, for the report. */
export interface MapRunCounts {
  parents: number;
  children: number;
  items: number;
  childrenRepeated: number;
  childrenTimedOut: number;
  childrenFailed: number;
}

interface MapState {
  readonly Type: string;
  readonly ItemsPath?: string;
  readonly ResultPath?: string;
  readonly Next?: string;
  readonly Label?: string;
  readonly MaxConcurrency?: number;
  readonly ToleratedFailurePercentage?: number;
  readonly ItemBatcher?: { readonly MaxItemsPerBatch?: number; readonly MaxInputBytesPerBatch?: number };
  readonly ItemProcessor: AslDefinition & { readonly ProcessorConfig?: { readonly Mode?: string; readonly ExecutionType?: string } };
  readonly ResultWriter?: { readonly Parameters?: { readonly Bucket?: string; readonly Prefix?: string } };
}

async function mapLimit<T>(items: ReadonlyArray<T>, limit: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

/** `$.a.b` of a value (the only JSONPath form the construct writes for ItemsPath / ResultPath). */
function pathParts(path: string | undefined, what: string): string[] {
  if (path === undefined || path === '$') return [];
  if (!/^\$(\.[A-Za-z_][\w-]*)+$/.test(path)) throw new Error(`map-run stand-in: ${what} ${path} is not a plain $.field path`);
  return path.slice(2).split('.');
}

/** One high-volume job's parent: its definition split at the Distributed Map. */
interface ParentPlan {
  readonly job: string;
  readonly stateMachineArn: string;
  readonly mapName: string;
  readonly map: MapState;
  readonly runChild: ReturnType<typeof createExecutionRunner>;
  readonly runAfterMap: ReturnType<typeof createExecutionRunner> | null;
}

/** The Map Run stand-ins of the app's high-volume parents, keyed by parent state machine ARN. */
export class MapRuns {
  readonly counts: MapRunCounts = { parents: 0, children: 0, items: 0, childrenRepeated: 0, childrenTimedOut: 0, childrenFailed: 0 };
  /** Every child run's end (status, error, cause): Express children log to the parent's log group (the canary searches them). */
  readonly childEnds: Array<{ executionArn: string; status: string; error?: string; cause?: string }> = [];
  private readonly plans = new Map<string, ParentPlan>();
  private readonly buckets = new Set<string>();

  constructor(private readonly deps: MapRunDeps) {
    for (const [job, logicalId] of deps.model.parents) {
      const definition = definitionOf(deps.model.template as never, logicalId, deps.ref, localEnv(deps.model.region));
      const mapName = definition.StartAt;
      const map = definition.States[mapName] as unknown as MapState;
      if (map?.Type !== 'Map' || map.ItemProcessor?.ProcessorConfig?.Mode !== 'DISTRIBUTED') throw new Error(`map-run stand-in: the parent of ${job} does not start with a Distributed Map`);
      const child: AslDefinition = { StartAt: map.ItemProcessor.StartAt, States: map.ItemProcessor.States };
      const { [mapName]: _map, ...rest } = definition.States;
      const handlerFor = (fn: string): LocalHandler => deps.handlerFor(fn.split(':').pop()!);
      const common = { sqs: deps.sqs, stepTimeoutSeconds: deps.stepTimeoutSeconds, executionTimeoutSeconds: deps.executionTimeoutSeconds, handlerFor };
      const arn = deps.ref(logicalId, 'AWS::StepFunctions::StateMachine');
      this.plans.set(arn, {
        job,
        stateMachineArn: arn,
        mapName,
        map,
        runChild: createExecutionRunner({ definition: child, ...common }),
        runAfterMap: map.Next ? createExecutionRunner({ definition: { StartAt: map.Next, States: rest }, ...common }) : null,
      });
    }
  }

  /** Whether the state machine is a high-volume parent the stand-in runs. */
  isParent(stateMachineArn: string): boolean {
    return this.plans.has(stateMachineArn);
  }

  /** Runs one parent execution: the Map Run, its result files, then the rest of the parent. */
  async run(e: { executionArn: string; name: string; stateMachineArn: string; input: string; startDate: Date }): Promise<ExecutionOutcome> {
    const plan = this.plans.get(e.stateMachineArn);
    if (!plan) throw new Error(`map-run stand-in: ${e.stateMachineArn} is no high-volume parent`);
    this.counts.parents += 1;
    const input = JSON.parse(e.input) as Record<string, unknown>;
    let items: unknown = input;
    for (const p of pathParts(plan.map.ItemsPath, 'ItemsPath')) items = (items as Record<string, unknown>)?.[p];
    if (!Array.isArray(items)) return { executionArn: e.executionArn, name: e.name, status: 'FAILED', error: 'States.Runtime', cause: 'ItemsPath did not select an array', retries: {}, sqsSends: 0 };
    const perChild = Math.max(1, plan.map.ItemBatcher?.MaxItemsPerBatch ?? 1);
    // A batch ends at MaxItemsPerBatch items or before its `{"Items": [...]}` passes MaxInputBytesPerBatch.
    const maxBytes = plan.map.ItemBatcher?.MaxInputBytesPerBatch ?? Infinity;
    const batches: unknown[][] = [];
    let bytes = 0;
    for (const item of items) {
      const size = Buffer.byteLength(JSON.stringify(item), 'utf8') + 1;
      const last = batches[batches.length - 1];
      if (!last || last.length >= perChild || bytes + size + '{"Items":[]}'.length > maxBytes) {
        batches.push([item]);
        bytes = size;
      } else {
        last.push(item);
        bytes += size;
      }
    }
    this.counts.items += items.length;

    const smName = e.stateMachineArn.split(':').pop()!;
    const mapRunId = createHash('sha256').update(e.executionArn).digest('hex').slice(0, 8);
    const label = plan.map.Label ?? plan.mapName;
    const mapRunArn = e.stateMachineArn.replace(':stateMachine:', ':mapRun:') + `/${label}:${mapRunId}`;
    const results: ChildExecutionResult[] = [];
    const ends: Array<Array<{ envelope: TaskEnvelope; recorded: boolean; error?: string; spooled: boolean }>> = [];
    const retries: Record<string, number> = {};
    await mapLimit(batches, plan.map.MaxConcurrency && plan.map.MaxConcurrency > 0 ? plan.map.MaxConcurrency : 1000, async (batch, i) => {
      const childName = `${mapRunId}-${i}`;
      const childArn = e.stateMachineArn.replace(':stateMachine:', ':express:').replace(smName, `${smName}/${label}:${mapRunId}`) + `:${childName}`;
      const childInput = { Items: batch };
      const runs = this.deps.faults.childTwice(childArn) ? 2 : 1;
      if (runs === 2) this.counts.childrenRepeated += 1;
      for (let r = 0; r < runs; r++) {
        this.counts.children += 1;
        const run = await this.runChild(plan, childArn, childName, childInput, e.startDate, r === runs - 1 && this.deps.faults.childTimedOut(childArn), retries);
        results[i] = run.result;
        ends[i] = run.items;
      }
    });
    // Each item is booked once its parent has ended: whether the post-map step spooled it is known then.
    const book = (out: ExecutionOutcome): ExecutionOutcome => {
      const postMapSpooled = out.status === 'SUCCEEDED' && this.deps.postMapStep !== false && plan.runAfterMap !== null;
      results.forEach((child, i) => {
        for (const item of ends[i]) {
          // RecordBatch saw it succeed (its child may still fail, e.g. ItemsNotSpooled for another item).
          if (item.recorded && !item.error) this.deps.onItem({ childArn: child.ExecutionArn, envelope: item.envelope, status: 'SUCCEEDED' });
          else {
            const error = item.error ?? child.Error ?? child.Status;
            // Its Catch spooled it; else only the post-map step can (a dead child, an item whose spool send failed).
            const by = item.spooled ? 'SpoolItem' : child.Status !== 'SUCCEEDED' && postMapSpooled ? 'SpoolFailedChildren' : null;
            this.deps.onItem({ childArn: child.ExecutionArn, envelope: item.envelope, status: 'FAILED', error, cause: by ? `${SPOOLED_CAUSE_PREFIX}${by}] ${error ?? ''}` : `not spooled: ${error ?? ''}` });
          }
        }
      });
      return out;
    };

    const failed = results.filter((r) => r.Status !== 'SUCCEEDED').length;
    this.counts.childrenFailed += failed;
    const location = await this.writeResults(plan, mapRunArn, mapRunId, results);
    const tolerated = plan.map.ToleratedFailurePercentage ?? 0;
    if (batches.length > 0 && (failed * 100) / batches.length > tolerated) {
      // No Catch on the Map state: the parent fails (the items of the failed children are not spooled by it).
      return book({ executionArn: e.executionArn, name: e.name, status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold', cause: `${failed} of ${batches.length} children failed`, retries, sqsSends: 0 });
    }
    if (!plan.runAfterMap || this.deps.postMapStep === false) return book({ executionArn: e.executionArn, name: e.name, status: 'SUCCEEDED', retries, sqsSends: 0 });
    const resultPath = pathParts(plan.map.ResultPath, 'ResultPath');
    const after = resultPath.length === 0 ? location : { ...input };
    if (resultPath.length > 0) {
      let at = after as Record<string, unknown>;
      for (const p of resultPath.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
      at[resultPath[resultPath.length - 1]] = location;
    }
    const out = await plan.runAfterMap({ executionArn: e.executionArn, name: e.name, stateMachineArn: e.stateMachineArn, input: after, startDate: e.startDate });
    // The children's retries (the items' steps) beside the post-map step's own.
    return book({ ...out, retries: { ...retries, ...out.retries } });
  }

  private async runChild(
    plan: ParentPlan,
    childArn: string,
    childName: string,
    childInput: { Items: unknown[] },
    startDate: Date,
    timesOut: boolean,
    retries: Record<string, number>,
  ): Promise<{ result: ChildExecutionResult; items: Array<{ envelope: TaskEnvelope; recorded: boolean; error?: string; spooled: boolean }> }> {
    // RecordBatch's payload says how each item ended (its Catch's error, or none; a spool error).
    const recorded: Array<{ task: unknown; error?: unknown; spoolError?: unknown }> = [];
    let abort: (() => void) | undefined;
    let cut = false;
    const out = await plan.runChild({
      executionArn: childArn,
      name: childName,
      stateMachineArn: plan.stateMachineArn,
      input: childInput,
      startDate,
      hooks: {
        onStarted: (a) => void (abort = a),
        onEvent: (ev) => {
          if (ev.type === 'StateEntered' && ev.state?.name === 'RecordBatch') {
            // Its input: the batch's Items and one outcome per item, in the same order.
            const state = ev.state.input as { Items?: unknown[]; results?: Array<{ error?: unknown; spoolError?: unknown }> } | undefined;
            (state?.results ?? []).forEach((r, i) => recorded.push({ task: state?.Items?.[i], ...r }));
          }
          // Its five minutes end after its first step: what runs on in Lambda runs on (side-effects.ts waits for it).
          if (timesOut && !cut && ev.type === 'StateExited' && ev.state?.type === 'Task') {
            cut = true;
            abort?.();
          }
        },
      },
    });
    for (const [k, v] of Object.entries(out.retries)) retries[k] = (retries[k] ?? 0) + v;
    let status: string = out.status;
    let error = out.error;
    let cause = out.cause;
    if (cut) {
      this.counts.childrenTimedOut += 1;
      status = 'TIMED_OUT';
      error = 'States.Timeout';
      cause = 'the Express child ran past its 300 s (simulated)';
    }
    this.childEnds.push({ executionArn: childArn, status, ...(error !== undefined ? { error } : {}), ...(cause !== undefined ? { cause } : {}) });
    const items = childInput.Items.map((item) => {
      const envelope = parseEnvelope(item);
      const r = recorded.find((x) => (x.task as { taskId?: unknown } | null)?.taskId === envelope.taskId);
      return { envelope, recorded: r !== undefined, ...(r?.error ? { error: String(r.error) } : {}), spooled: Boolean(r?.error) && !r?.spoolError };
    });
    const result: ChildExecutionResult = {
      ExecutionArn: childArn,
      Name: childName,
      Input: JSON.stringify(childInput),
      InputDetails: { Included: true },
      Status: status,
      ...(error !== undefined ? { Error: error } : {}),
      ...(cause !== undefined ? { Cause: cause } : {}),
    };
    return { result, items };
  }

  /** Writes the manifest and one file per status, as AWS documents them; returns the Map state's output. */
  private async writeResults(plan: ParentPlan, mapRunArn: string, mapRunId: string, results: ChildExecutionResult[]): Promise<{ MapRunArn: string; ResultWriterDetails: { Bucket: string; Key: string } }> {
    const bucket = plan.map.ResultWriter?.Parameters?.Bucket;
    if (!bucket) throw new Error(`map-run stand-in: the parent of ${plan.job} has no ResultWriter bucket`);
    if (!this.buckets.has(bucket)) {
      await this.deps.s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((e: Error) => {
        if (e.name !== 'BucketAlreadyOwnedByYou' && e.name !== 'BucketAlreadyExists') throw e;
      });
      this.buckets.add(bucket);
    }
    const prefix = `${plan.map.ResultWriter?.Parameters?.Prefix ?? ''}`.replace(/\/$/, '');
    const dir = `${prefix ? `${prefix}/` : ''}${mapRunId}`;
    const files: Record<string, ResultFileRef[]> = { FAILED: [], PENDING: [], SUCCEEDED: [] };
    const now = new Date().toISOString();
    for (const status of ['SUCCEEDED', 'FAILED']) {
      const rows = results.filter((r) => (status === 'SUCCEEDED' ? r.Status === 'SUCCEEDED' : r.Status !== 'SUCCEEDED'));
      if (rows.length === 0) continue;
      const key = `${dir}/${status}_0.json`;
      const body = JSON.stringify(rows.map((r) => ({ ...r, MapRunArn: mapRunArn, StartDate: now, StopDate: now, StateMachineArn: plan.stateMachineArn, RedriveCount: 0, RedriveStatus: 'NOT_REDRIVABLE' })));
      // The post-map Lambda reads with the same parser: a file it could not read would fail here first.
      parseResultFile(body, key);
      await this.deps.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body) }));
      files[status].push({ Key: key, Size: Buffer.byteLength(body) });
    }
    const manifest: ResultManifest = { DestinationBucket: bucket, MapRunArn: mapRunArn, ResultFiles: files };
    const text = JSON.stringify(manifest);
    parseManifest(text);
    const key = `${dir}/manifest.json`;
    await this.deps.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(text) }));
    return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: bucket, Key: key } };
  }
}
