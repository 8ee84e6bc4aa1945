import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { AppFunction } from '../app-function';
import { secureQueueProps } from '../defaults';
import { ErrorSpool } from '../error-spool';
import { HmacKey } from '../hmac-key';
import { acknowledgeOn, acknowledgeOnPolicyOf, nagResource } from '../nag';
import { schedulerRole } from '../service-roles';
import * as sqs from 'aws-cdk-lib/aws-sqs';

/** Props of {@link LostTaskMonitor}. */
export interface LostTaskMonitorProps {
  readonly projectRoot: string;
  /** The app's time zone: the schedule's and the partitions'. */
  readonly timeZone: string;
  /** EventBridge Scheduler expression, in the app's time zone (config `investigation.lostTaskMonitorSchedule`). */
  readonly schedule: string;
  readonly workGroupName: string;
  readonly databaseName: string;
  /** Glue table names the query reads. */
  readonly tableNames: ReadonlyArray<string>;
  readonly logBucket: s3.IBucket;
  /** Prefixes of the log bucket the query reads, e.g. `client/`. */
  readonly logPrefixes: ReadonlyArray<string>;
  readonly key: kms.IKey;
  readonly resultsBucket: s3.IBucket;
  /** Prefix of the workgroup's result location, e.g. `athena/`. */
  readonly resultsPrefix: string;
  /** CloudWatch namespace of the LostTasks metric. */
  readonly metricNamespace: string;
  /**
   * The error spool: a check that fails after Lambda's retries is kept in its `failedInvocations`
   * queue (the on-failure destination), so reprocess can re-run it.
   * @default none: a failed check is only in the logs and the errors alarm
   */
  readonly spool?: ErrorSpool;
  /** The records' HMAC key: the monitor may VerifyMac with it (never GenerateMac). */
  readonly recordMacKey: HmacKey;
}

/**
 * Lambda timeout; the query deadline is kept below it so the function reports a timeout itself.
 * The rest is for reading the candidates and verifying each record's MAC (one VerifyMac each, 32
 * in flight): a day of 100,000 tasks is about 200,000 requests.
 */
const FUNCTION_TIMEOUT = Duration.minutes(15);
const QUERY_DEADLINE = Duration.minutes(4);

/**
 * The daily lost-task check: a Lambda run by EventBridge Scheduler in the app's time zone that
 * reads yesterday's candidate records in Athena, verifies each record's MAC, and publishes
 * `LostTasks` and `ForgedRecords` (EMF). Least privilege: Athena in its workgroup only, Glue read
 * of the database and its tables, S3 read of the log prefixes, write of the results prefix, the
 * key for both, VerifyMac (only) on the records' HMAC key.
 */
export class LostTaskMonitor extends Construct {
  public readonly function: AppFunction;
  public readonly schedule: scheduler.Schedule;
  /** Invocations the scheduler could not deliver after its retries. */
  public readonly deadLetterQueue: sqs.Queue;
  /** The published count (Maximum over a day). */
  public readonly lostTasksMetric: cloudwatch.Metric;
  /** Records of the checked day whose MAC did not verify (Maximum over a day). */
  public readonly forgedRecordsMetric: cloudwatch.Metric;

  constructor(scope: Construct, id: string, props: LostTaskMonitorProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.function = new AppFunction(this, 'Function', {
      projectRoot: props.projectRoot,
      entry: 'lambdas/lost-task-monitor/handler.ts',
      serviceName: 'lost-task-monitor',
      description: 'Daily: counts yesterday\'s lost tasks (started, never ended) among records whose MAC verifies, and the forged records; publishes LostTasks and ForgedRecords',
      timeout: FUNCTION_TIMEOUT,
      environment: {
        WORKGROUP: props.workGroupName,
        DATABASE: props.databaseName,
        APP_TIME_ZONE: props.timeZone,
        METRIC_NAMESPACE: props.metricNamespace,
        QUERY_DEADLINE_SECONDS: String(QUERY_DEADLINE.toSeconds()),
      },
    });
    const role = this.function.role!;
    props.recordMacKey.grantVerifyTo(this.function);
    if (props.spool) {
      // Every scheduled function keeps what failed after Lambda's two retries (AWS Lambda developer
      // guide, "Capturing records of asynchronous invocations"); a check is safe to run again (it
      // counts). The destination sends with the function's role, granted through the spool's lock.
      // Not the L2 SqsDestination: its grantSendMessages adds calls the spool's policy refuses.
      const failedInvocations = props.spool.failedInvocations;
      this.function.configureAsyncInvoke({ retryAttempts: 2, onFailure: { bind: () => ({ destination: failedInvocations.queueArn }) } });
      props.spool.grantSend(role, 'failedInvocations');
    }

    const workGroupArn = stack.formatArn({ service: 'athena', resource: 'workgroup', resourceName: props.workGroupName });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution'],
        resources: [workGroupArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable'],
        resources: [
          stack.formatArn({ service: 'glue', resource: 'catalog' }),
          stack.formatArn({ service: 'glue', resource: 'database', resourceName: props.databaseName }),
          ...props.tableNames.map((t) => stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${props.databaseName}/${t}` })),
        ],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: props.logPrefixes.map((p) => props.logBucket.arnForObjects(`${p}*`)) }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [props.logBucket.bucketArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [props.resultsBucket.arnForObjects(`${props.resultsPrefix}*`)],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket', 's3:GetBucketLocation'], resources: [props.resultsBucket.bucketArn] }),
    );
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [props.key.keyArn] }));

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', secureQueueProps());
    acknowledgeOn(this.deadLetterQueue, { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of the monitor schedule.' });
    // Its own role (not the stack-wide one the target would create) so its findings stay here.
    const scheduleRole = schedulerRole(this, 'ScheduleRole', 'Invokes the lost-task monitor daily');
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'Daily lost-task check of the previous day (app time zone)',
      schedule: scheduler.ScheduleExpression.expression(props.schedule, TimeZone.of(props.timeZone)),
      timeWindow: scheduler.TimeWindow.off(),
      target: new targets.LambdaInvoke(this.function, {
        // The tick, so a delayed or retried delivery still checks the right day.
        input: scheduler.ScheduleTargetInput.fromObject({ scheduledTime: scheduler.ContextAttribute.scheduledTime }),
        retryAttempts: 2,
        maxEventAge: Duration.hours(6),
        deadLetterQueue: this.deadLetterQueue,
        role: scheduleRole,
      }),
    });
    acknowledgeOnPolicyOf(scheduleRole, {
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.function.functionArn)}:*]`,
      reason: 'lambda:InvokeFunction on the monitor and its versions, as the aws-scheduler-targets L2 grants it.',
    });
    const logBucketId = stack.resolve((props.logBucket.node.defaultChild as s3.CfnBucket).logicalId);
    const resultsBucketId = stack.resolve((props.resultsBucket.node.defaultChild as s3.CfnBucket).logicalId);
    acknowledgeOnPolicyOf(
      role,
      ...props.logPrefixes.map((p) => ({
        id: `AwsSolutions-IAM5[Resource::<${logBucketId}.Arn>/${p}*]`,
        reason: `The lost-task query reads every object under ${p}: the day's partition is only known at run time.`,
      })),
      {
        id: `AwsSolutions-IAM5[Resource::<${resultsBucketId}.Arn>/${props.resultsPrefix}*]`,
        reason: 'Athena writes query results under the workgroup\'s result prefix with generated names.',
      },
    );

    this.lostTasksMetric = new cloudwatch.Metric({
      namespace: props.metricNamespace,
      metricName: 'LostTasks',
      // Powertools adds `service` (POWERTOOLS_SERVICE_NAME) to the handler's WorkGroup dimension.
      dimensionsMap: { service: 'lost-task-monitor', WorkGroup: props.workGroupName },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.days(1),
    });
    this.forgedRecordsMetric = new cloudwatch.Metric({
      namespace: props.metricNamespace,
      metricName: 'ForgedRecords',
      dimensionsMap: { service: 'lost-task-monitor', WorkGroup: props.workGroupName },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.days(1),
    });
  }
}
