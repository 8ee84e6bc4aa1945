import { CfnResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CLIENT_TABLE, SAVED_QUERIES, WORKER_TABLE } from '../../lambdas/shared/queries';
import { Alerts } from '../alerts';
import { ErrorSpool } from '../error-spool';
import { HmacKey } from '../hmac-key';
import { acknowledgeOn } from '../nag';
import { ParamLogAccess } from '../param-log-access';
import { LostTaskMonitor } from './lost-task-monitor';
import { OPENX_JSON_SERDE, PARTITION_KEYS, projectionProperties, TABLE_PROPERTIES, tableColumns } from './schema';

export { createTableDdl, projectionProperties, tableColumns } from './schema';

/** Props of {@link Investigation}. */
export interface InvestigationProps {
  readonly projectRoot: string;
  /** The app's time zone (partitions, monitor schedule). */
  readonly timeZone: string;
  /** The parameter-log bucket (ParamLog.bucket). */
  readonly bucket: s3.IBucket;
  /** Its KMS key (ParamLog.key); also encrypts query results. */
  readonly key: kms.IKey;
  /** The records' HMAC key (ParamLog.macKey): the monitor verifies every record it counts with it. */
  readonly recordMacKey: HmacKey;
  /** Firehose delivery roles (ParamLog.writerRoles). */
  readonly writerRoles: ReadonlyArray<iam.IRole>;
  /** @default 'client/' */
  readonly clientPrefix?: string;
  /** @default 'worker/' */
  readonly workerPrefix?: string;
  /** Config `paramLog.readerRoleArnPatterns`. */
  readonly readerRoleArnPatterns: ReadonlyArray<string>;
  /** Where the monitor's alarms notify. */
  readonly alerts: Alerts;
  /** Where the monitor's failed invocations are kept (its on-failure destination). @default none */
  readonly spool?: ErrorSpool;
  /** Config `investigation` (resolved). */
  readonly settings: {
    readonly bytesScannedCutoffPerQuery: number;
    readonly resultsExpirationDays: number;
    readonly firstLogYear: number;
    readonly lostTaskMonitorSchedule: string;
  };
}

/** Athena engine of the workgroup; the saved queries are Trino SQL for it. */
export const ATHENA_ENGINE = 'Athena engine version 3';
/** Prefix of query results in the results bucket. */
export const RESULTS_PREFIX = 'athena/';
/** CloudWatch namespace of the monitor's metric. */
export const METRIC_NAMESPACE = 'ScheduledJobs/ParamLog';

/** Lowercase `[a-z0-9_]` from a stack name, so two deployments get two databases. */
function glueName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/**
 * Investigation of the parameter log: Glue tables with partition projection over the core's
 * `client/` and `worker/` prefixes, an Athena (engine v3) workgroup with enforced, encrypted,
 * expiring results and a bytes-scanned cutoff, the saved queries, the daily lost-task monitor
 * with its alarms, and the read lock on the logs ({@link ParamLogAccess}).
 */
export class Investigation extends Construct {
  public readonly databaseName: string;
  public readonly workGroupName: string;
  public readonly resultsBucket: s3.Bucket;
  public readonly monitor: LostTaskMonitor;
  public readonly lostTasksAlarm: cloudwatch.Alarm;
  public readonly monitorErrorsAlarm: cloudwatch.Alarm;
  /** Records whose MAC is missing or wrong: someone wrote to the log without the writers' key. */
  public readonly forgedRecordsAlarm: cloudwatch.Alarm;
  /** The monitor did not run at all (schedule disabled, deleted, or deliveries dead-lettered). */
  public readonly monitorSilentAlarm: cloudwatch.Alarm;
  public readonly access: ParamLogAccess;

  constructor(scope: Construct, id: string, props: InvestigationProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { settings } = props;
    const prefixes = { [CLIENT_TABLE]: props.clientPrefix ?? 'client/', [WORKER_TABLE]: props.workerPrefix ?? 'worker/' };
    for (const p of Object.values(prefixes)) {
      if (!p.endsWith('/') || p.startsWith('/')) throw new Error(`Investigation: prefix "${p}" must be like "client/" (no leading slash, trailing slash)`);
    }

    // Physical names are required for Glue databases and workgroups: derive them from the stack
    // name so that the app deploys twice into one account.
    this.databaseName = `${glueName(stack.stackName)}_param_log`;
    this.workGroupName = `${stack.stackName}-investigation`;

    this.resultsBucket = new s3.Bucket(this, 'ResultsBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Results hold params: kept only as long as an investigation needs them.
      lifecycleRules: [
        { id: 'expire-results', expiration: Duration.days(settings.resultsExpirationDays), abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledgeOn(this.resultsBucket, {
      id: 'AwsSolutions-S1',
      reason: 'Query results expire within days and are read only by the named reader roles and the monitor (enforced by the bucket policy); CloudTrail S3 data events, not access logs, are the audit trail of reads (docs/security.md).',
    });

    const database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: { name: this.databaseName, description: 'Parameter log of the scheduled jobs (client = task started, worker = task ended)' },
    });

    const tables = Object.entries(prefixes).map(([table, prefix]) => {
      const location = `s3://${props.bucket.bucketName}/${prefix}`;
      const t = new glue.CfnTable(this, table === CLIENT_TABLE ? 'ClientTable' : 'WorkerTable', {
        catalogId: stack.account,
        databaseName: this.databaseName,
        tableInput: {
          name: table,
          description: table === CLIENT_TABLE ? 'Client records: one per task the producer started (or failed to start)' : 'Worker records: one per execution end (Success, Failure, TimedOut)',
          tableType: 'EXTERNAL_TABLE',
          parameters: { ...TABLE_PROPERTIES, ...projectionProperties(location, { firstYear: settings.firstLogYear }) },
          partitionKeys: PARTITION_KEYS.map((name) => ({ name, type: 'string' })),
          storageDescriptor: {
            location,
            columns: tableColumns(),
            inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
            outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
            compressed: true,
            serdeInfo: { serializationLibrary: OPENX_JSON_SERDE },
          },
        },
      });
      t.addResourceDependency(database);
      return t;
    });

    const workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: this.workGroupName,
      description: 'Investigation of the parameter log (saved queries, lost-task monitor)',
      state: 'ENABLED',
      // Deleting the stack deletes its saved queries with the workgroup.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: settings.bytesScannedCutoffPerQuery,
        engineVersion: { selectedEngineVersion: ATHENA_ENGINE },
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/${RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: props.key.keyArn },
          expectedBucketOwner: stack.account,
        },
      },
    });

    for (const q of SAVED_QUERIES) {
      const nq = new athena.CfnNamedQuery(this, `Query${q.id}`, {
        name: q.name,
        description: q.description,
        database: this.databaseName,
        queryString: q.sql,
        workGroup: workGroup.ref,
      });
      nq.addResourceDependency(database);
    }

    this.monitor = new LostTaskMonitor(this, 'LostTaskMonitor', {
      projectRoot: props.projectRoot,
      timeZone: props.timeZone,
      schedule: settings.lostTaskMonitorSchedule,
      workGroupName: this.workGroupName,
      databaseName: this.databaseName,
      tableNames: [CLIENT_TABLE, WORKER_TABLE],
      logBucket: props.bucket,
      logPrefixes: Object.values(prefixes),
      key: props.key,
      resultsBucket: this.resultsBucket,
      resultsPrefix: RESULTS_PREFIX,
      metricNamespace: METRIC_NAMESPACE,
      spool: props.spool,
      recordMacKey: props.recordMacKey,
    });
    // The first scheduled run needs the workgroup and tables. Only the schedule waits for them:
    // the monitor's role must not (the log key's policy names that role: a cycle).
    const cfnSchedule = this.monitor.schedule.node.defaultChild as CfnResource;
    for (const r of [workGroup, ...tables]) cfnSchedule.addResourceDependency(r);

    this.lostTasksAlarm = new cloudwatch.Alarm(this, 'LostTasksAlarm', {
      alarmDescription: 'Tasks started yesterday with no end recorded (run the saved query "param-log: lost tasks of a day"). See docs/investigation.md.',
      metric: this.monitor.lostTasksMetric,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No data = the monitor did not report; its errors alarm covers a failed run.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.monitorErrorsAlarm = new cloudwatch.Alarm(this, 'MonitorErrorsAlarm', {
      alarmDescription: 'The lost-task monitor failed: the lost count of yesterday is UNKNOWN (query failed, timed out or returned no count). See its logs.',
      metric: this.monitor.function.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // "Never reports 0 when it does not know" also covers a monitor that never runs: no invocation
    // for two daily periods (two, so the day of the first deploy does not page anyone).
    this.monitorSilentAlarm = new cloudwatch.Alarm(this, 'MonitorSilentAlarm', {
      alarmDescription: 'The lost-task monitor has not run for two days: lost tasks are NOT being checked. Check its schedule and dead-letter queue.',
      metric: this.monitor.function.metricInvocations({ period: Duration.days(1), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.forgedRecordsAlarm = new cloudwatch.Alarm(this, 'ForgedRecordsAlarm', {
      alarmDescription:
        'Parameter-log records of yesterday whose MAC is missing or wrong: someone wrote to a delivery stream without the record writers\' key (firehose:PutRecord alone). They were treated as absent; the monitor\'s log names their task ids. See docs/security.md, "Record MACs".',
      metric: this.monitor.forgedRecordsMetric,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const a of [this.lostTasksAlarm, this.monitorErrorsAlarm, this.monitorSilentAlarm, this.forgedRecordsAlarm]) props.alerts.notify(a);

    this.access = new ParamLogAccess(this, 'Access', {
      bucket: props.bucket,
      key: props.key,
      resultsBucket: this.resultsBucket,
      readerRoleArnPatterns: props.readerRoleArnPatterns,
      writerRoles: props.writerRoles,
      serviceReaderRoles: [this.monitor.function.role!],
    });
  }
}
