import { Stack, StackProps } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ResolvedAppConfig } from './config/types';
import { ErrorSpool } from './error-spool';
import { Investigation } from './investigation';
import { OperationsAlarms } from './operations';
import { ParamLog } from './param-log';
import { ScheduledProducer } from './scheduled-producer';
import { Reprocess } from './reprocess';
import { JobWorkflow, WorkerRecordFunction } from './workflow';

export interface ScheduledJobsStackProps extends StackProps {
  /** The validated config (bin/config.ts through resolveConfig). */
  readonly config: ResolvedAppConfig;
  /** Absolute path of the project root; handler entries in the config are relative to it. */
  readonly projectRoot: string;
}

/** Composes the app's constructs. No resources are defined here directly. */
export class ScheduledJobsStack extends Stack {
  /** The parameter-log bucket and its client/worker delivery streams. */
  public readonly paramLog: ParamLog;
  /** The error spool (every final failure, with its original input). */
  public readonly spool: ErrorSpool;
  /** Each job's workflow, by job name. */
  public readonly workflows: ReadonlyMap<string, JobWorkflow>;
  /** Athena tables, saved queries, the lost-task monitor and the parameter-log read lock. */
  public readonly investigation: Investigation;
  /** The reprocess Lambda (replays the spool by hand) and its quarantine queue. */
  public readonly reprocess: Reprocess;
  /** Alarms on the spool, quarantine and schedule dead-letter queues, and the operators' dashboard. */
  public readonly operations: OperationsAlarms;

  constructor(scope: Construct, id: string, props: ScheduledJobsStackProps) {
    super(scope, id, props);
    const { config, projectRoot } = props;
    this.paramLog = new ParamLog(this, 'ParamLog', { timeZone: config.timeZone, ...config.paramLog });
    this.spool = new ErrorSpool(this, 'ErrorSpool', { retentionDays: config.spool.retentionDays });
    const recordFunction = new WorkerRecordFunction(this, 'RecordOutcome', { projectRoot, paramLog: this.paramLog, timeZone: config.timeZone });
    const workflows = new Map<string, JobWorkflow>();
    const deadLetterQueues = new Map<string, sqs.IQueue>();
    for (const job of config.jobs) {
      const workflow = new JobWorkflow(this, `Job-${job.name}`, { job, projectRoot, spoolQueue: this.spool.queue, recordFunction, timeZone: config.timeZone });
      workflows.set(job.name, workflow);
      const producer = new ScheduledProducer(this, `Producer-${job.name}`, {
        job,
        projectRoot,
        timeZone: config.timeZone,
        stateMachine: workflow.stateMachine,
        spoolQueue: this.spool.queue,
        paramLog: this.paramLog,
      });
      deadLetterQueues.set(`Producer-${job.name}`, producer.deadLetterQueue);
    }
    this.workflows = workflows;
    this.reprocess = new Reprocess(this, 'Reprocess', {
      projectRoot,
      spoolQueue: this.spool.queue,
      stateMachines: [...workflows.values()].map((w) => w.stateMachine),
      defaultMax: config.reprocess.defaultMax,
      maxReplays: config.spool.maxReplays,
    });
    this.investigation = new Investigation(this, 'Investigation', {
      projectRoot,
      timeZone: config.timeZone,
      bucket: this.paramLog.bucket,
      key: this.paramLog.key,
      writerRoles: this.paramLog.writerRoles,
      clientPrefix: this.paramLog.clientPrefix,
      workerPrefix: this.paramLog.workerPrefix,
      readerRoleArnPatterns: config.paramLog.readerRoleArnPatterns,
      settings: config.investigation,
    });
    deadLetterQueues.set('LostTaskMonitor', this.investigation.monitor.deadLetterQueue);
    this.operations = new OperationsAlarms(this, 'Operations', {
      topic: this.investigation.alarmTopic,
      spoolQueue: this.spool.queue,
      spoolRetentionDays: config.spool.retentionDays,
      quarantineQueue: this.reprocess.quarantineQueue,
      scheduleDeadLetterQueues: deadLetterQueues,
      stateMachines: new Map([...workflows].map(([job, w]) => [job, w.stateMachine])),
    });
  }
}
