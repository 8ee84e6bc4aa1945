import { AppShape, JobShape } from './shape';
import { ATHENA_MIN_BYTES, cost, DAYS_PER_MONTH, FIREHOSE_RECORD_BYTES, GB, PRICES, PriceName, SQS_CHUNK_BYTES, TB } from './prices';
import { RecordSizes } from './records';
import { PathCounts } from './transitions';
import { MAX_MAC_BATCH } from '../../lambdas/shared/record-mac';

/**
 * The cost model: usage a day, derived from the app's shape (shape.ts) and stated assumptions,
 * priced per month (prices.ts). Every quantity is an expected value: a share `f` of tasks fails
 * (down the failure path), is spooled, and is replayed once, successfully.
 */

/** What the model assumes (the CLI's flags). */
export interface Assumptions {
  /** Share of tasks that fail after their retries and are replayed once. 0-1. */
  readonly failureRate: number;
  /** Extra attempts per task on the success path (retries that then succeed), on average. */
  readonly retriesPerTask: number;
  /** Average duration of one Lambda invocation, ms (the template does not say). */
  readonly durationMs: number;
  /** Tasks one tick-queue message carries (only used when the template has a queue Lambda polls). */
  readonly tasksPerTickMessage: number;
  /** Bytes of CloudWatch Logs one invocation writes (platform START/END/REPORT lines and the handler's JSON lines). */
  readonly logBytesPerInvocation: number;
  /** Bytes of a step's output (what a spool message carries as `stepInput`). */
  readonly stepOutputBytes: number;
  /** Empty ReceiveMessage calls a day of an idle SQS event source mapping (Lambda's pollers keep polling). */
  readonly idleReceivesPerDay: number;
  /** Share of the tasks of each job (sums to 1). */
  readonly mix: ReadonlyMap<string, number>;
  /** StartExecution calls per task (1 in standard; one per batch in the high-volume mode, scripts/cost/high-volume.ts). @default 1 */
  readonly startsPerTask?: number;
  /**
   * Client records one sink put carries (one record MAC per put of up to 512: record MAC version 2).
   * The high-volume batch starter puts a whole tick message's records at once; the standard
   * starter puts at each checkpoint ({@link standardClientRecordsPerPut}). Never more than a tick's tasks.
   * @default standardClientRecordsPerPut(the shape)
   */
  readonly clientRecordsPerPut?: number;
}

/** Usage of one day at one volume (the quantities that are priced). */
export interface DailyUsage {
  readonly tasks: number;
  readonly executions: number;
  readonly transitions: number;
  /** Invocations by function logical id. */
  readonly invocations: ReadonlyMap<string, number>;
  /** Seconds of Lambda run time beyond the per-invocation duration (pacing starts at the account's rate), by function. */
  readonly extraSeconds: ReadonlyMap<string, number>;
  readonly gbSecondsArm: number;
  readonly gbSecondsX86: number;
  readonly sqsRequests: { readonly spool: number; readonly ticks: number };
  readonly firehoseRecords: { readonly client: number; readonly worker: number };
  readonly firehoseBilledBytes: number;
  /** Compressed bytes the parameter log grows by. */
  readonly storedBytes: number;
  readonly s3Puts: number;
  readonly s3Gets: number;
  readonly athenaScannedBytes: number;
  readonly kmsRequests: number;
  /** GenerateMac requests a day for record MACs (one per put of up to 512 records); the monitor verifies as many. */
  readonly recordMacs: number;
  /** Express executions started a day (the high-volume mode's children) and their billed GB-seconds. */
  readonly expressRequests: number;
  readonly expressGbSeconds: number;
  readonly dynamoWrites: number;
  readonly dynamoReads: number;
  readonly schedulerInvocations: number;
  readonly logBytes: number;
  readonly traces: number;
  /** Bytes through the interface VPC endpoints (0 without them). */
  readonly endpointBytes: number;
}

/** One row of the table. */
export interface ComponentCost {
  readonly component: string;
  readonly usd: number;
  readonly prices: ReadonlyArray<PriceName>;
}

/** The month at one volume. */
export interface MonthlyCost {
  readonly tasksPerDay: number;
  readonly usage: DailyUsage;
  readonly components: ReadonlyArray<ComponentCost>;
  readonly total: number;
  readonly perTask: number;
}

const add = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n);

/** Bytes of one X-Ray segment a traced function sends (an assumption: a segment with a few subsegments). */
export const TRACE_SEGMENT_BYTES = 2 * 1024;

/**
 * Tick-ledger writes (lambdas/shared/tick-ledger.ts): the producer claims a tick, records its plan,
 * the batches enqueued (once per SendMessageBatch call of up to 10) and marks it planned; a starter
 * claims a batch, checkpoints it (about once a second: more on big batches), marks it done and
 * counts it on the tick. An estimate with one checkpoint and one enqueue record per batch.
 */
export const LEDGER_WRITES_PER_TICK = 3;
export const LEDGER_WRITES_PER_BATCH = 5;
/** Largest tick message: SQS's 1 MiB limit less attributes and the message frame. */
export const MAX_TICK_MESSAGE_BYTES = 1024 * 1024 - 10 * 1024;

/** Tasks one tick message carries: as configured, but never more than fit in one SQS message. */
export function tasksPerMessage(configured: number, envelopeBytes: number): number {
  return Math.max(1, Math.min(configured, Math.floor(MAX_TICK_MESSAGE_BYTES / envelopeBytes)));
}

/** The standard starter's checkpoint (lambdas/starter/logic.ts): every 400 tasks or every second, whichever first. */
export const STARTER_CHECKPOINT_TASKS = 400;
export const STARTER_CHECKPOINT_SECONDS = 1;

/**
 * Client records per put of the standard starter: one checkpoint's, at most 400, and at most a
 * second of starts at the account's refill rate (an upper bound when several starters share it).
 */
export function standardClientRecordsPerPut(shape: Pick<AppShape, 'startExecutionRefillPerSecond'>): number {
  return Math.max(1, Math.min(STARTER_CHECKPOINT_TASKS, shape.startExecutionRefillPerSecond * STARTER_CHECKPOINT_SECONDS));
}

/**
 * KMS GenerateMac requests to write `records` records in puts of `perPut` (record MAC version 2,
 * lambdas/shared/record-mac.ts): one per put of up to 512 records ({@link MAX_MAC_BATCH}).
 */
export function recordMacRequests(records: number, perPut: number): number {
  if (records <= 0) return 0;
  const put = Math.max(1, perPut);
  return (records / put) * Math.ceil(put / MAX_MAC_BATCH);
}

/** Expected transitions of one task of a job: success, or failure plus replay, plus retries. */
export function transitionsPerTask(job: JobShape, a: Pick<Assumptions, 'failureRate' | 'retriesPerTask'>): number {
  const f = a.failureRate;
  return (1 - f) * job.success.transitions + f * (job.failure.transitions + job.replay.transitions) + a.retriesPerTask;
}

/** Expected invocations of each function by one task of a job. */
export function invocationsPerTask(job: JobShape, a: Pick<Assumptions, 'failureRate' | 'retriesPerTask'>): Map<string, number> {
  const f = a.failureRate;
  const out = new Map<string, number>();
  const weigh = (p: PathCounts, w: number) => p.lambda.forEach((n, fn) => add(out, fn, n * w));
  weigh(job.success, 1 - f);
  weigh(job.failure, f);
  weigh(job.replay, f);
  if (a.retriesPerTask > 0) add(out, job.firstStepFunction, a.retriesPerTask);
  return out;
}

/** Requests SQS bills for a request carrying `bytes` of payload (one per 64 KB chunk). */
export function sqsBilled(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / SQS_CHUNK_BYTES));
}

/** Bytes Firehose bills for one record of `bytes` (rounded up to the next 5 KB). */
export function firehoseBilled(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / FIREHOSE_RECORD_BYTES)) * FIREHOSE_RECORD_BYTES;
}

/**
 * X-Ray's default sampling rule: the first request each second, then 5% of the rest, at an even rate
 * (AWS X-Ray developer guide, "Sampling rules"; not in the research notes: verify).
 */
export function sampledPerSecond(ratePerSecond: number): number {
  return Math.min(ratePerSecond, 1) + 0.05 * Math.max(ratePerSecond - 1, 0);
}

/** Usage of one day with `tasksPerDay` tasks, split over the jobs by `a.mix`. */
export function dailyUsage(shape: AppShape, sizes: RecordSizes, a: Assumptions, tasksPerDay: number): DailyUsage {
  const f = a.failureRate;
  const invocations = new Map<string, number>();
  const extraSeconds = new Map<string, number>();
  let transitions = 0;
  let spoolSends = 0;
  let failures = 0;
  let ticks = 0;
  let tickMessages = 0;
  let tickRequests = 0;
  const executionsByMachine: number[] = [];
  let expressRequests = 0;
  let expressGbSeconds = 0;
  // A job says how many starts a task takes (one per parent in high-volume), else the assumptions do.
  const starts = (tasks: number, job?: JobShape) => (tasks * (job?.startsPerTask ?? a.startsPerTask ?? 1)) / shape.startExecutionRefillPerSecond;

  const polled = shape.polledQueues;
  const perMessage = tasksPerMessage(a.tasksPerTickMessage, sizes.envelopeBytes);
  const clientPerPut = a.clientRecordsPerPut ?? standardClientRecordsPerPut(shape);
  let clientMacs = 0;
  for (const job of shape.jobs) {
    const tasks = tasksPerDay * (a.mix.get(job.job) ?? 0);
    const perPut = job.clientRecordsPerPut ?? clientPerPut;
    clientMacs += recordMacRequests(tasks, job.ticksPerDay > 0 ? Math.min(perPut, tasks / job.ticksPerDay) : perPut);
    expressRequests += tasks * (job.express?.requests ?? 0);
    expressGbSeconds += tasks * (job.express?.gbSeconds ?? 0);
    const bad = tasks * f;
    failures += bad;
    transitions += tasks * transitionsPerTask(job, a);
    invocationsPerTask(job, a).forEach((n, fn) => add(invocations, fn, n * tasks));
    spoolSends += bad * [...job.failure.tasks].filter(([r]) => /:sqs:sendMessage$/.test(r)).reduce((s, [, n]) => s + n, 0);
    executionsByMachine.push(tasks + bad);

    // The producer runs once a tick. Without a tick queue it starts the tasks itself, paced by the
    // account's StartExecution refill rate (Step Functions quotas); with one, the starters do.
    add(invocations, job.producer, job.ticksPerDay);
    ticks += job.ticksPerDay;
    if (job.ticksPerDay > 0 && tasks > 0) {
      const perTick = tasks / job.ticksPerDay;
      // The job's own tick queue (the standard or the high-volume starters'), else split evenly over the polled queues.
      const own = polled.filter((q) => q.queue === job.tickQueue);
      const queues = own.length ? own : polled;
      if (queues.length === 0) {
        add(extraSeconds, job.producer, starts(tasks, job));
      } else {
        // Target design: the producer writes the tick's tasks as batch messages to a tick queue;
        // a starter (SQS event source) starts each batch.
        const messages = Math.ceil(perTick / perMessage);
        const chunks = Math.ceil((perTick * sizes.envelopeBytes) / SQS_CHUNK_BYTES);
        for (const q of queues) {
          const share = job.ticksPerDay / queues.length;
          const invocationsPerTick = Math.ceil(messages / q.batchSize);
          tickMessages += share * messages;
          tickRequests +=
            share *
            (Math.max(Math.ceil(messages / 10), chunks) + // SendMessageBatch, 10 messages and 64 KB chunks
              Math.max(invocationsPerTick, chunks) + // the event source's receives
              // Lambda deletes a batch its function returned from (AWS Lambda developer guide, "Using Lambda with Amazon SQS").
              invocationsPerTick * Math.ceil(Math.min(q.batchSize, messages) / 10));
          add(invocations, q.target, share * invocationsPerTick);
          add(extraSeconds, q.target, starts(tasks / queues.length, job));
        }
      }
    }
  }
  const executions = executionsByMachine.reduce((s, n) => s + n, 0);
  // Lambda's pollers keep polling an empty queue: an event source starts with five of them (AWS
  // Lambda developer guide, "Scaling for SQS event sources"), long polls assumed.
  tickRequests += polled.length * a.idleReceivesPerDay;

  // Failures: the status-change rule fires for every FAILED execution (Step Functions sends status
  // changes of Standard workflows to EventBridge, AWS Step Functions developer guide, "Step Functions
  // events in EventBridge"; the capture skips the ones the workflow spooled); reprocess replays
  // `reprocessBatch` messages per invocation.
  for (const t of shape.statusChangeTargets) add(invocations, t, failures);
  const reprocessRuns = failures > 0 ? Math.ceil(failures / shape.reprocessBatch) : 0;
  add(invocations, shape.reprocessFunction, reprocessRuns);
  // Replays are single-task standard executions in every mode: one start each.
  if (failures > 0) add(extraSeconds, shape.reprocessFunction, failures / shape.startExecutionRefillPerSecond);
  const spoolMessageBytes = sizes.envelopeBytes + a.stepOutputBytes + 2048;
  const spoolRequests =
    spoolSends * sqsBilled(spoolMessageBytes) +
    Math.ceil(failures / 10) * sqsBilled(10 * spoolMessageBytes) + // receives of 10
    Math.ceil(failures / 10) + // DeleteMessageBatch of 10
    reprocessRuns * 2; // GetQueueAttributes and the last, empty receive of each run

  // Other scheduled functions (monitor, sweeper...): the producers are counted above.
  const producers = new Set(shape.jobs.map((j) => j.producer));
  let schedulerInvocations = ticks;
  let monitorQueries = 0;
  for (const s of shape.scheduled) {
    if (producers.has(s.target)) continue;
    add(invocations, s.target, s.perDay);
    if (s.kind === 'scheduler') schedulerInvocations += s.perDay;
    if (s.target === shape.monitorFunction) monitorQueries += s.perDay;
  }

  let gbSecondsArm = 0;
  let gbSecondsX86 = 0;
  for (const [fn, n] of invocations) {
    const info = shape.functions.get(fn);
    if (!info) throw new Error(`function ${fn} is invoked but not in the template`);
    const seconds = (n * a.durationMs) / 1000 + (extraSeconds.get(fn) ?? 0);
    const gbs = (seconds * info.memoryMiB) / 1024;
    if (info.arch === 'arm64') gbSecondsArm += gbs;
    else gbSecondsX86 += gbs;
  }

  // Parameter log: one client record per task (the producer / starter), one worker record per
  // execution end (every invocation of the record-outcome function).
  const clientRecords = tasksPerDay;
  const batchedRecords = shape.jobs.reduce((n, j) => n + tasksPerDay * (a.mix.get(j.job) ?? 0) * (j.batchedWorkerRecordsPerTask ?? 0), 0);
  // Functions that write worker records: record-outcome, and each high-volume job's batch-record (one put per child).
  const recordFunctions = new Set([shape.recordFunction, shape.highVolumeStandIns.batchRecord, ...shape.jobs.flatMap((j) => (j.highVolumeFunctions ? [j.highVolumeFunctions.batchRecord] : []))]);
  const recordInvocations = [...recordFunctions].reduce((n, fn) => n + (invocations.get(fn) ?? 0), 0);
  const workerRecords = recordInvocations + batchedRecords;
  const firehoseBilledBytes = clientRecords * firehoseBilled(sizes.clientRecordBytes) + workerRecords * firehoseBilled(sizes.workerRecordBytes);
  const rawClient = clientRecords * sizes.clientRecordBytes;
  const rawWorker = workerRecords * sizes.workerRecordBytes;
  const interval = Math.max(1, shape.paramLog.bufferSeconds);
  // Firehose delivers when its buffer interval or size is reached, whichever first (Amazon Data
  // Firehose developer guide, "Buffering hints"): an object per interval while records come in.
  const objectsOf = (records: number, raw: number) => Math.min(records, Math.max(86_400 / interval, raw / (shape.paramLog.bufferMiB * 1024 * 1024)));
  const clientObjects = objectsOf(clientRecords, rawClient);
  const workerObjects = objectsOf(workerRecords, rawWorker);
  const storedBytes = (rawClient + rawWorker) * sizes.gzipRatio;
  // The lost-task query reads one day of client records and two days of worker records.
  const athenaScannedBytes = monitorQueries * Math.max(ATHENA_MIN_BYTES, (rawClient + 2 * rawWorker) * sizes.gzipRatio);
  const s3Gets = monitorQueries * (clientObjects + 2 * workerObjects);
  const s3Puts = clientObjects + workerObjects;

  // KMS, an upper bound: one request per data-key reuse period for each principal of a CMK queue
  // with traffic (sender GenerateDataKey + Decrypt, receiver Decrypt) and each CMK state machine
  // with executions (GenerateDataKey + Decrypt); one per parameter-log object written or read
  // (S3 Bucket Keys make it far fewer).
  let kmsRequests = s3Puts + s3Gets;
  for (const q of shape.cmkQueues) {
    const busy = q.id === shape.spoolQueue ? failures > 0 : polled.some((p) => p.queue === q.id) && tickMessages > 0;
    if (busy) kmsRequests += 3 * (86_400 / q.reuseSeconds);
  }
  if (executions > 0) for (const m of shape.cmkStateMachines) kmsRequests += 2 * (86_400 / m.reuseSeconds);
  // Record MACs (lambdas/shared/record-mac.ts, version 2): one GenerateMac per sink put of up to
  // 512 records, and the monitor's one VerifyMac per distinct batch MAC it reads (the day's client
  // records and their ends). Client records: puts of `clientPerPut` (above); worker records: one
  // put per invocation of the record function (one record in standard, a child's items in
  // high-volume).
  const workerMacs = recordInvocations > 0 ? recordMacRequests(workerRecords, workerRecords / recordInvocations) : workerRecords;
  const recordMacs = clientMacs + workerMacs;
  kmsRequests += recordMacs * (1 + Math.min(1, monitorQueries));
  // Lock keys: one GenerateMac per lock action, an upper bound (the container caches a value's key).
  kmsRequests += shape.lockFunction ? (invocations.get(shape.lockFunction) ?? 0) : 0;

  const lockWrites = shape.lockFunction ? (invocations.get(shape.lockFunction) ?? 0) : 0;
  const ledgerWrites = shape.tickLedger ? LEDGER_WRITES_PER_TICK * ticks + LEDGER_WRITES_PER_BATCH * tickMessages : 0;
  let dynamoReads = 0;
  for (const [fn, n] of invocations) if (shape.functions.get(fn)?.readsHolds) dynamoReads += 0.5 * n; // eventually consistent GetItem, upper bound (cached 5 s)

  const totalInvocations = [...invocations.values()].reduce((s, n) => s + n, 0);
  // Interface endpoints process what VPC functions send through them: a VPC producer's tasks to the
  // tick queue (envelopes), and a trace segment per invocation of any VPC function. Secrets are cached.
  let endpointBytes = 0;
  if (shape.interfaceEndpointAzs > 0) {
    for (const job of shape.jobs) if (shape.functions.get(job.producer)?.inVpc) endpointBytes += tasksPerDay * (a.mix.get(job.job) ?? 0) * sizes.envelopeBytes;
    for (const [fn, n] of invocations) if (shape.functions.get(fn)?.inVpc) endpointBytes += n * TRACE_SEGMENT_BYTES;
  }
  // X-Ray: executions are traced as one trace each (the Lambdas they call join it); other traced
  // functions start their own. Sampled at the default rule, at the day's average rate.
  let traces = 0;
  if (shape.stateMachinesTraced) for (const n of executionsByMachine) traces += 86_400 * sampledPerSecond(n / 86_400);
  const inWorkflows = new Set<string>();
  for (const j of shape.jobs) for (const p of [j.success, j.failure, j.replay]) p.lambda.forEach((_, fn) => inWorkflows.add(fn));
  for (const [fn, n] of invocations) if (!inWorkflows.has(fn) && shape.functions.get(fn)?.traced) traces += 86_400 * sampledPerSecond(n / 86_400);

  return {
    tasks: tasksPerDay,
    executions,
    transitions,
    invocations,
    extraSeconds,
    gbSecondsArm,
    gbSecondsX86,
    sqsRequests: { spool: spoolRequests, ticks: tickRequests },
    firehoseRecords: { client: clientRecords, worker: workerRecords },
    firehoseBilledBytes,
    storedBytes,
    s3Puts,
    s3Gets,
    athenaScannedBytes,
    kmsRequests,
    recordMacs,
    expressRequests,
    expressGbSeconds,
    dynamoWrites: lockWrites + ledgerWrites,
    dynamoReads,
    schedulerInvocations,
    logBytes: totalInvocations * a.logBytesPerInvocation,
    traces,
    endpointBytes,
  };
}

/** Days the parameter log keeps a record (the template's expiration, else the configured retention). */
export function retainedDays(shape: AppShape): number {
  return shape.paramLog.expirationDays ?? shape.paramLog.configuredRetentionDays;
}

/** The row of the Express children (high-volume mode). */
export const EXPRESS_COMPONENT = 'Step Functions Express (requests + GB-s)';

/** Prices one month (30 days) at `tasksPerDay`. */
export function monthlyCost(shape: AppShape, sizes: RecordSizes, a: Assumptions, tasksPerDay: number): MonthlyCost {
  const u = dailyUsage(shape, sizes, a, tasksPerDay);
  const m = DAYS_PER_MONTH;
  const invocations = [...u.invocations.values()].reduce((s, n) => s + n, 0);
  const components: ComponentCost[] = [
    { component: 'Step Functions (state transitions)', usd: cost(PRICES.sfnTransition, u.transitions * m), prices: ['sfnTransition'] },
    // Only when a job runs Express children (the high-volume mode).
    ...(shape.jobs.some((j) => j.express)
      ? [
          {
            component: EXPRESS_COMPONENT,
            usd: cost(PRICES.expressRequest, u.expressRequests * m) + cost(PRICES.expressGbSecond, u.expressGbSeconds * m),
            prices: ['expressRequest', 'expressGbSecond'] as PriceName[],
          },
        ]
      : []),
    {
      component: 'Lambda (requests + GB-s)',
      usd: cost(PRICES.lambdaRequest, invocations * m) + cost(PRICES.lambdaGbSecondArm, u.gbSecondsArm * m) + cost(PRICES.lambdaGbSecondX86, u.gbSecondsX86 * m),
      prices: ['lambdaRequest', 'lambdaGbSecondArm', 'lambdaGbSecondX86'],
    },
    { component: 'SQS (tick queue, spool)', usd: cost(PRICES.sqsRequest, (u.sqsRequests.spool + u.sqsRequests.ticks) * m), prices: ['sqsRequest'] },
    { component: 'Firehose (records, 5 KB each)', usd: cost(PRICES.firehoseGb, (u.firehoseBilledBytes * m) / GB), prices: ['firehoseGb'] },
    {
      component: 'S3 (param log PUT/GET + storage)',
      usd: cost(PRICES.s3Put, u.s3Puts * m) + cost(PRICES.s3Get, u.s3Gets * m) + cost(PRICES.s3StorageGbMonth, (u.storedBytes * retainedDays(shape)) / GB),
      prices: ['s3Put', 's3Get', 's3StorageGbMonth'],
    },
    { component: 'Athena (daily lost-task query)', usd: cost(PRICES.athenaTb, (u.athenaScannedBytes * m) / TB), prices: ['athenaTb'] },
    { component: 'KMS (keys + requests)', usd: cost(PRICES.kmsKeyMonth, shape.kmsKeys) + cost(PRICES.kmsRequest, u.kmsRequests * m), prices: ['kmsKeyMonth', 'kmsRequest'] },
    { component: 'DynamoDB (locks, holds, ledger)', usd: cost(PRICES.dynamoWrite, u.dynamoWrites * m) + cost(PRICES.dynamoRead, u.dynamoReads * m), prices: ['dynamoWrite', 'dynamoRead'] },
    { component: 'EventBridge Scheduler', usd: cost(PRICES.schedulerInvocation, u.schedulerInvocations * m), prices: ['schedulerInvocation'] },
    {
      component: 'CloudWatch alarms (+ dashboard*)',
      usd: cost(PRICES.alarmMetric, shape.alarmMetrics) + cost(PRICES.compositeAlarm, shape.compositeAlarms) + cost(PRICES.dashboardMonth, shape.dashboards),
      prices: ['alarmMetric', 'compositeAlarm', 'dashboardMonth'],
    },
    { component: 'CloudWatch Logs ingestion*', usd: cost(PRICES.logsIngestGb, (u.logBytes * m) / GB), prices: ['logsIngestGb'] },
    { component: 'X-Ray traces*', usd: cost(PRICES.xrayTrace, u.traces * m), prices: ['xrayTrace'] },
    // Only when the template has interface endpoints (vpcEndpoints in the config): hours dominate.
    ...(shape.interfaceEndpointAzs > 0
      ? [
          {
            component: 'VPC interface endpoints (hours per AZ + data)',
            usd: cost(PRICES.vpcInterfaceEndpointHour, shape.interfaceEndpointAzs * 24 * m) + cost(PRICES.vpcEndpointDataGb, (u.endpointBytes * m) / GB),
            prices: ['vpcInterfaceEndpointHour', 'vpcEndpointDataGb'] as PriceName[],
          },
        ]
      : []),
  ];
  const total = components.reduce((s, c) => s + c.usd, 0);
  return { tasksPerDay, usage: u, components, total, perTask: tasksPerDay > 0 ? total / (tasksPerDay * m) : 0 };
}
