import { Stack, StackProps } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Alerts } from './alerts';
import { ResolvedAppConfig } from './config/types';
import { CoordinationTable } from './coordination-table';
import { ErrorSpool } from './error-spool';
import { ExecutionCapture } from './execution-capture';
import { Reconciler } from './reconciler';
import { DestinationAlarms } from './destination-alarms';
import { Investigation } from './investigation';
import { watchErrors } from './error-watch';
import { HighVolumeWorkflow, HIGH_VOLUME_PARENT_TIMEOUT } from './high-volume-workflow';
import { FunctionAlarms, OperationsDashboard } from './observability';
import { OperationsAlarms } from './operations';
import { OperatorOutputs } from './operator-outputs';
import { ParamLog } from './param-log';
import { ParamsKey } from './params-key';
import { ProofJobAccess } from './proof-job';
import { StepResultsTable } from './step-results-table';
import { ScheduledProducer } from './scheduled-producer';
import { TickStarter } from './tick-starter';
import { Reprocess } from './reprocess';
import { Sweeper } from './sweeper';
import { appResourcesOf, TamperAlarms } from './tamper-alarms';
import { CodeSigning } from './code-signing';
import { appVpcFunctions, JobVpcEndpoints } from './vpc-endpoints';
import { JobWorkflow, LockFunction, WorkerRecordFunction } from './workflow';

export interface ScheduledJobsStackProps extends StackProps {
  /** The validated config of one stage (bin/config.ts through resolveConfig). */
  readonly config: ResolvedAppConfig;
  /** Absolute path of the project root; handler entries in the config are relative to it. */
  readonly projectRoot: string;
}

/** Label of the tick dead-letter queue for the sweeper and the dashboard. */
const TICK_DEAD_LETTERS = 'TickDeadLetters';
/** ... and of the high-volume starters' one. */
const HIGH_VOLUME_TICK_DEAD_LETTERS = 'HighVolumeTickDeadLetters';

/** Composes the app's constructs. No resources are defined here directly. */
export class ScheduledJobsStack extends Stack {
  /** The customer managed key of params outside the parameter log (spool, quarantine, executions). */
  public readonly paramsKey: ParamsKey;
  /** Holds, locks, tick ledger. */
  public readonly coordination: CoordinationTable;
  /** Recorded step results (idempotent steps), inside the read lock: encrypted with the params key. */
  public readonly stepResults: StepResultsTable;
  /** Where alarms notify. */
  public readonly alerts: Alerts;
  /** The parameter-log bucket and its client/worker delivery streams. */
  public readonly paramLog: ParamLog;
  /** The error spool (every final failure, with its original input). */
  public readonly spool: ErrorSpool;
  /** Each job's workflow, by job name. */
  public readonly workflows: ReadonlyMap<string, JobWorkflow>;
  /** The tick queue and its starters (the second half of every standard job's ticks). */
  public readonly tickStarter: TickStarter;
  /** Each high-volume job's parent and Express children, by job name (beside its standard workflow, kept for replays). */
  public readonly highVolume: ReadonlyMap<string, HighVolumeWorkflow>;
  /** The high-volume jobs' own tick queue and batch starters (lambdas/batch-starter); none without such a job. */
  public readonly highVolumeStarter?: TickStarter;
  /** Each job's producer, by job name. */
  public readonly producers: ReadonlyMap<string, ScheduledProducer>;
  /** Athena tables, saved queries, the lost-task monitor and the parameter-log read lock. */
  public readonly investigation: Investigation;
  /** The reprocess Lambda: the operators' routine for the spool, the quarantine, failed invocations and ticks. */
  public readonly reprocess: Reprocess;
  /** Keeps queued failures from expiring unseen and alarms on their age (spool, quarantine, failed invocations, tick and schedule DLQs). */
  public readonly sweeper: Sweeper;
  /** Alarms on the spool, quarantine and schedule dead-letter queues (the dashboard is {@link ScheduledJobsStack.dashboard}). */
  public readonly operations: OperationsAlarms;
  /** Errors and throttles of every function, and the parameter log's delivery. */
  public readonly functionAlarms: FunctionAlarms;
  /** The operators' dashboard (every alarm, executions, failure queues, functions, delivery). */
  public readonly dashboard: OperationsDashboard;
  /** Spools executions that end outside the workflow's Catch (aborted, timed out, uncatchable, spool unreachable). */
  public readonly executionCapture: ExecutionCapture;
  /** Pages when anyone but the deploy role changes what runs as the app or where params go (docs/security.md). */
  public readonly tamperAlarms: TamperAlarms;
  /** Captures ended executions whose status-change event was lost (docs/execution-capture.md, "Reconciler"). */
  public readonly reconciler: Reconciler;

  constructor(scope: Construct, id: string, props: ScheduledJobsStackProps) {
    super(scope, id, props);
    const { config, projectRoot } = props;
    this.paramsKey = new ParamsKey(this, 'ParamsKey', { readerRoleArnPatterns: config.paramLog.readerRoleArnPatterns });
    this.coordination = new CoordinationTable(this, 'Coordination');
    this.stepResults = new StepResultsTable(this, 'StepResults', { paramsKey: this.paramsKey });
    this.alerts = new Alerts(this, 'Alerts', { alerts: config.alerts });
    this.paramLog = new ParamLog(this, 'ParamLog', { timeZone: config.timeZone, ...config.paramLog });
    this.spool = new ErrorSpool(this, 'ErrorSpool', { retentionDays: config.spool.retentionDays, paramsKey: this.paramsKey });
    const recordFunction = new WorkerRecordFunction(this, 'RecordOutcome', { projectRoot, paramLog: this.paramLog, timeZone: config.timeZone });
    const lockFunction = config.jobs.some((j) => j.exclusiveBy) ? new LockFunction(this, 'Lock', { projectRoot, coordination: this.coordination, alerts: this.alerts }) : undefined;
    const workflows = new Map<string, JobWorkflow>();
    const producers = new Map<string, ScheduledProducer>();
    const deadLetterQueues = new Map<string, sqs.IQueue>();
    for (const job of config.jobs) {
      const workflow = new JobWorkflow(this, `Job-${job.name}`, {
        job,
        projectRoot,
        spool: this.spool,
        recordFunction,
        lockFunction,
        coordination: this.coordination,
        stepResults: this.stepResults,
        dependencies: config.dependencies,
        paramsKey: this.paramsKey,
        timeZone: config.timeZone,
      });
      workflows.set(job.name, workflow);
    }
    // A high-volume job keeps its standard state machine: reprocess replays a spooled task there,
    // one execution resuming at its failed step (docs/big-ticks.md, "High-volume mode").
    const highVolume = new Map<string, HighVolumeWorkflow>();
    for (const job of config.jobs.filter((j) => j.executionMode === 'high-volume')) {
      const standard = workflows.get(job.name)!;
      const hvProps = { job, standard, projectRoot, spool: this.spool, paramLog: this.paramLog, paramsKey: this.paramsKey, timeZone: config.timeZone, parentTimeout: HIGH_VOLUME_PARENT_TIMEOUT };
      highVolume.set(job.name, new HighVolumeWorkflow(this, `HighVolume-${job.name}`, hvProps));
    }
    this.highVolume = highVolume;
    // Every state machine whose executions the capture, the reconciler and the dashboard watch.
    const watched = [
      ...config.jobs.map((job) => ({ job, stateMachine: workflows.get(job.name)!.stateMachine })),
      ...[...highVolume].map(([name, hv]) => ({ job: { ...config.jobs.find((j) => j.name === name)!, executionTimeoutSeconds: HIGH_VOLUME_PARENT_TIMEOUT.toSeconds() }, stateMachine: hv.stateMachine, replayStateMachine: workflows.get(name)!.stateMachine })),
    ];
    // What both starter fleets share: the queues' key, the spool, the log, the ledger, the quota.
    const starterShared = {
      projectRoot,
      spool: this.spool,
      paramsKey: this.paramsKey,
      paramLog: this.paramLog,
      coordination: this.coordination,
      timeZone: config.timeZone,
      quota: config.startExecutionQuota,
      alerts: this.alerts,
    };
    this.tickStarter = new TickStarter(this, 'TickStarter', { ...starterShared, stateMachines: [...workflows.values()].map((w) => w.stateMachine) });
    // A second queue and starter fleet: its own concurrency (not the quota's), its own least
    // privilege (the parents only), and no head-of-line blocking behind a big standard tick.
    this.highVolumeStarter = highVolume.size
      ? new TickStarter(this, 'HighVolumeStarter', {
          ...starterShared,
          stateMachines: [...highVolume.keys()].map((name) => workflows.get(name)!.stateMachine),
          highVolume: [...highVolume].map(([name, hv]) => ({ standard: workflows.get(name)!.stateMachine, parent: hv.stateMachine })),
        })
      : undefined;
    for (const job of config.jobs) {
      const producer = new ScheduledProducer(this, `Producer-${job.name}`, {
        job,
        projectRoot,
        timeZone: config.timeZone,
        stateMachine: workflows.get(job.name)!.stateMachine,
        spool: this.spool,
        paramLog: this.paramLog,
        tickStarter: (highVolume.has(job.name) && this.highVolumeStarter) || this.tickStarter,
        coordination: this.coordination,
        alerts: this.alerts,
      });
      producers.set(job.name, producer);
      deadLetterQueues.set(`Producer-${job.name}`, producer.deadLetterQueue);
    }
    this.workflows = workflows;
    this.producers = producers;
    if (config.vpcEndpoints) {
      new JobVpcEndpoints(this, 'VpcEndpoints', {
        config: config.vpcEndpoints,
        functions: appVpcFunctions(config, { producers, workflows, producerQueueArns: [this.tickStarter.tickQueue.queueArn, ...(this.highVolumeStarter ? [this.highVolumeStarter.tickQueue.queueArn] : []), this.spool.quarantine.queueArn], clientStreamArn: this.paramLog.clientStream.deliveryStreamArn, coordinationTableArn: this.coordination.table.tableArn, stepResultsTableArn: this.stepResults.table.tableArn }, this),
      });
    }
    const proof = config.sandbox ? workflows.get(ProofJobAccess.job) : undefined;
    if (proof) new ProofJobAccess(this, 'ProofJob', { coordination: this.coordination, producer: producers.get(ProofJobAccess.job)!.function, functions: [producers.get(ProofJobAccess.job)!.function, ...proof.stepFunctions.values()] });
    this.executionCapture = new ExecutionCapture(this, 'ExecutionCapture', {
      projectRoot,
      jobs: watched,
      spool: this.spool,
      paramLog: this.paramLog,
      coordination: this.coordination,
      paramsKey: this.paramsKey,
      alerts: this.alerts,
      timeZone: config.timeZone,
    });
    this.reconciler = new Reconciler(this, 'Reconciler', {
      projectRoot,
      jobs: watched,
      capture: this.executionCapture,
      spool: this.spool,
      paramLog: this.paramLog,
      coordination: this.coordination,
      paramsKey: this.paramsKey,
      alerts: this.alerts,
    });
    this.investigation = new Investigation(this, 'Investigation', {
      projectRoot,
      timeZone: config.timeZone,
      bucket: this.paramLog.bucket,
      key: this.paramLog.key,
      recordMacKey: this.paramLog.macKey,
      writerRoles: this.paramLog.writerRoles,
      clientPrefix: this.paramLog.clientPrefix,
      workerPrefix: this.paramLog.workerPrefix,
      readerRoleArnPatterns: config.paramLog.readerRoleArnPatterns,
      alerts: this.alerts,
      settings: config.investigation,
      spool: this.spool,
    });
    deadLetterQueues.set('LostTaskMonitor', this.investigation.monitor.deadLetterQueue);
    this.sweeper = new Sweeper(this, 'Sweeper', {
      projectRoot,
      timeZone: config.timeZone,
      alerts: this.alerts,
      spool: this.spool,
      alertAfterDays: config.spool.alertAfterDays,
      queues: [
        ...Sweeper.spoolQueues(),
        ...[...deadLetterQueues].map(([label, queue]) => ({ label, queue })),
        {
          label: 'CaptureFailures',
          queue: this.executionCapture.failuresQueue,
          action: 'A status-change capture that failed has waited that long in the capture\'s failures queue: the reconciler could not capture it again. Fix the cause, capture the execution by hand, then let the next reconciler run delete the record (docs/execution-capture.md, "When the capture fails").',
        },
        {
          label: TICK_DEAD_LETTERS,
          queue: this.tickStarter.deadLetterQueue,
          action: 'Tick batches have waited that long in the tick dead-letter queue: their tasks have not started. Fix the cause, then invoke the tick starter with {"redriveDeadLetters": true} (docs/big-ticks.md, "Runbook").',
        },
        ...(this.highVolumeStarter
          ? [
              {
                label: HIGH_VOLUME_TICK_DEAD_LETTERS,
                queue: this.highVolumeStarter.deadLetterQueue,
                action: 'High-volume tick batches have waited that long in their dead-letter queue: their tasks have not started. Fix the cause, then invoke the high-volume starter with {"redriveDeadLetters": true} (docs/big-ticks.md, "Runbook").',
              },
            ]
          : []),
      ],
    });
    this.tickStarter.grantSweepDeadLetters(this.sweeper.function.role!);
    this.highVolumeStarter?.grantSweepDeadLetters(this.sweeper.function.role!);
    deadLetterQueues.set('Sweeper', this.sweeper.deadLetterQueue);
    // After every function whose failed invocations it re-runs (each has an on-failure destination
    // to the failed-invocations queue).
    this.reprocess = new Reprocess(this, 'Reprocess', {
      projectRoot,
      spool: this.spool,
      jobs: config.jobs.map((job) => ({ job, stateMachine: workflows.get(job.name)!.stateMachine })),
      dependencies: config.dependencies,
      coordination: this.coordination,
      timeZone: config.timeZone,
      paramLog: this.paramLog,
      defaultMax: config.reprocess.defaultMax,
      maxReplays: config.spool.maxReplays,
      invocableFunctions: [
        ...[...producers].map(([job, p]) => ({ label: Reprocess.producerLabel(job), function: p.function })),
        { label: 'executionCapture', function: this.executionCapture.function },
        { label: 'sweeper', function: this.sweeper.function },
        { label: 'lostTaskMonitor', function: this.investigation.monitor.function },
      ],
    });
    this.operations = new OperationsAlarms(this, 'Operations', {
      alerts: this.alerts,
      spoolQueue: this.spool.queue,
      quarantineQueue: this.spool.quarantine,
      scheduleDeadLetterQueues: deadLetterQueues,
    });
    // Functions whose errors another alarm watches better: the sweeper (two periods in a row), the
    // monitor (lost count unknown), reprocess (a person invokes it and reads the error at once).
    watchErrors(this.sweeper.function, 'own');
    watchErrors(this.investigation.monitor.function, 'own');
    watchErrors(this.reprocess.function, 'caller');
    // Every function with an on-failure destination (the producers' have their own).
    new DestinationAlarms(this, 'DestinationAlarms', { alerts: this.alerts, alreadyWatched: [...this.producers.values()].map((p) => p.function) });
    // Last: it watches every function created above.
    this.functionAlarms = new FunctionAlarms(this, 'FunctionAlarms', {
      alerts: this.alerts,
      deliveryStreams: [
        { name: 'Client', stream: this.paramLog.clientStream },
        { name: 'Worker', stream: this.paramLog.workerStream },
      ],
      bufferSeconds: config.paramLog.bufferSeconds,
    });
    this.dashboard = new OperationsDashboard(this, 'Dashboard', {
      alerts: this.alerts,
      stateMachines: new Map([...[...workflows].map(([job, w]) => [job, w.stateMachine] as const), ...[...highVolume].map(([job, hv]) => [`${job} (high-volume)`, hv.stateMachine] as const)]),
      queues: [
        ...(['spool', 'quarantine', 'failedInvocations'] as const).map((name) => ({ label: name, queue: this.spool.queueOf(name) })),
        ...[...deadLetterQueues].map(([label, queue]) => ({ label, queue })),
        { label: TICK_DEAD_LETTERS, queue: this.tickStarter.deadLetterQueue },
        ...(this.highVolumeStarter ? [{ label: HIGH_VOLUME_TICK_DEAD_LETTERS, queue: this.highVolumeStarter.deadLetterQueue }] : []),
        { label: 'CaptureFailures', queue: this.executionCapture.failuresQueue },
      ].map((q) => ({ ...q, oldestAge: this.sweeper.oldestFailureAlarms.get(q.label)?.metric })),
      functions: this.functionAlarms.watched,
      deliveryStreams: [
        { name: 'Client', stream: this.paramLog.clientStream },
        { name: 'Worker', stream: this.paramLog.workerStream },
      ],
    });
    if (config.audit.codeSigningProfileVersionArn) {
      new CodeSigning(this, 'CodeSigning', { signingProfileVersionArn: config.audit.codeSigningProfileVersionArn, functions: appResourcesOf(this).functions });
    }
    // Last but one: it watches every function, role, key, bucket, queue and stream made above.
    this.tamperAlarms = new TamperAlarms(this, 'TamperAlarms', {
      alerts: this.alerts,
      deployRoleArn: this.paramsKey.deployRoleArn,
      operatorRoleArns: config.operators.roleArns,
      reprocessFunction: this.reprocess.function,
      resources: appResourcesOf(this),
      trail: config.audit.trail,
    });
    new OperatorOutputs(this, 'OperatorOutputs', { reprocessFunction: this.reprocess.function, spool: this.spool, coordinationTable: this.coordination.table, athena: this.investigation, stateMachines: new Map([...workflows].map(([job, w]) => [job, w.stateMachine])) });
  }
}
