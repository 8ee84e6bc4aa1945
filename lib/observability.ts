import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { Alerts } from './alerts';
import { AppFunction } from './app-function';
import { ErrorWatch, errorWatchOf } from './error-watch';
import { JobWorkflow } from './workflow';

/** Props of {@link FunctionAlarms}. */
export interface FunctionAlarmsProps {
  readonly alerts: Alerts;
  /** The parameter log's delivery streams. */
  readonly deliveryStreams: ReadonlyArray<{ readonly name: string; readonly stream: firehose.IDeliveryStream }>;
  /** Firehose buffering interval (seconds): delivery is late when data is older than this plus a margin. */
  readonly bufferSeconds: number;
}

/** How a function is watched. */
export interface WatchedFunction {
  readonly fn: AppFunction;
  /** A job step: errors are its normal retries, so only a high error rate alarms. */
  readonly step: boolean;
  /** How its errors are watched: any error, an error rate, or not here (see {@link ErrorWatch}). */
  readonly errors: 'any' | ErrorWatch;
  /** Throttles are expected: the function has reserved concurrency (a step's maxConcurrency waits on its own retrier). */
  readonly throttlesExpected: boolean;
}

/**
 * Alarms on every function of the stack and on the parameter log's delivery. Created LAST in the
 * stack: it watches every AppFunction that exists then.
 * - App functions (producers, starters, records, locks, capture, reprocess, sweeper, monitor):
 *   any error, any throttle. Each of these failing means a tick, a record or a capture is at risk.
 * - Job steps: errors are their retries (an API answering 503 is business as usual), so the alarm is
 *   an error RATE above half the invocations for 15 minutes.
 * - Throttles alarm for every function without reserved concurrency (with it they are the design:
 *   a step's maxConcurrency waits on its own retrier; the capture's events wait in Lambda's queue).
 * - Firehose: delivery to S3 failing, or data older than the buffer plus 15 minutes. For S3
 *   delivery failures Firehose retries for up to 24 hours, then DISCARDS the data (Amazon Data
 *   Firehose developer guide, "Handle data delivery failures", Amazon S3 destination); the bucket's
 *   error prefix holds only records that failed processing or format conversion. So the late alarm
 *   pages within the first half hour, far inside those 24 hours.
 */
export class FunctionAlarms extends Construct {
  public readonly watched: ReadonlyArray<WatchedFunction>;
  public readonly alarms: ReadonlyArray<cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: FunctionAlarmsProps) {
    super(scope, id);
    const root = Stack.of(this);
    const stepFunctions = new Set<AppFunction>();
    for (const c of root.node.findAll()) if (c instanceof JobWorkflow) for (const fn of c.stepFunctions.values()) stepFunctions.add(fn);
    // Reserved concurrency caps a function on purpose (a step's maxConcurrency, the capture's
    // burst, one reprocess at a time): its throttles are the design, not an account problem.
    const reserved = (fn: AppFunction) => (fn.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions !== undefined;
    const watched: WatchedFunction[] = root.node
      .findAll()
      .filter((c): c is AppFunction => c instanceof AppFunction)
      .map((fn) => ({ fn, step: stepFunctions.has(fn), errors: stepFunctions.has(fn) ? 'rate' : errorWatchOf(fn), throttlesExpected: reserved(fn) }));
    this.watched = watched;

    const period = Duration.minutes(5);
    const alarms: cloudwatch.Alarm[] = [];
    const alarm = (alarmId: string, props_: cloudwatch.AlarmProps) => {
      const a = new cloudwatch.Alarm(this, alarmId, props_);
      props.alerts.notify(a);
      alarms.push(a);
    };
    for (const w of watched) {
      const label = w.fn.node.path.split('/').slice(1).join('/');
      const idBase = w.fn.node.path.split('/').slice(1).join('').replace(/[^A-Za-z0-9]/g, '');
      if (w.errors === 'rate') {
        alarm(`${idBase}ErrorRate`, {
          alarmDescription: `${label}: more than half of its invocations failed for 15 minutes (retries of a failing dependency, or a bug). Tasks end in the spool: see the runbook.`,
          metric: new cloudwatch.MathExpression({
            expression: 'IF(invocations > 0, 100 * errors / invocations, 0)',
            usingMetrics: { errors: w.fn.metricErrors({ period, statistic: cloudwatch.Stats.SUM }), invocations: w.fn.metricInvocations({ period, statistic: cloudwatch.Stats.SUM }) },
            period,
            label: `${label} error %`,
          }),
          threshold: 50,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
      } else if (w.errors === 'any') {
        alarm(`${idBase}Errors`, {
          alarmDescription: `${label} failed. Its failures are kept (spool, failed invocations, Lambda retries); read its log, then follow the runbook for its role.`,
          metric: w.fn.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
      }
      if (!w.throttlesExpected) {
        alarm(`${idBase}Throttles`, {
          alarmDescription: `${label} was throttled (account concurrency exhausted?). Invocations wait and retry, but check the account's concurrency and reserved concurrency.`,
          metric: w.fn.metricThrottles({ period, statistic: cloudwatch.Stats.SUM }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
      }
    }

    for (const { name, stream } of props.deliveryStreams) {
      alarm(`${name}DeliveryFailing`, {
        alarmDescription: `Firehose ${name} stream: delivery to S3 failed. Firehose retries S3 delivery for up to 24 hours, then DISCARDS the records: fix the delivery role or the bucket key before then (docs/runbook.md).`,
        metric: stream.metric('DeliveryToS3.Success', { period, statistic: cloudwatch.Stats.MINIMUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm(`${name}DeliveryLate`, {
        alarmDescription: `Firehose ${name} stream: the oldest record waiting is older than the buffer plus 15 minutes (delivery stuck). Firehose retries S3 delivery for up to 24 hours, then discards the records.`,
        metric: stream.metric('DeliveryToS3.DataFreshness', { period, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: props.bufferSeconds + 900,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    this.alarms = alarms;
  }
}

/** Props of {@link OperationsDashboard}. */
export interface OperationsDashboardProps {
  readonly alerts: Alerts;
  /** State machines by job name. */
  readonly stateMachines: ReadonlyMap<string, sfn.IStateMachine>;
  /** Queues that hold failures, with the sweeper's first-send-aware age metric of each. */
  readonly queues: ReadonlyArray<{ readonly label: string; readonly queue: sqs.IQueue; readonly oldestAge?: cloudwatch.IMetric }>;
  readonly functions: ReadonlyArray<WatchedFunction>;
  readonly deliveryStreams: ReadonlyArray<{ readonly name: string; readonly stream: firehose.IDeliveryStream }>;
}

/**
 * The operators' dashboard: every alarm of the app (alerts.alarms) first, then executions by job,
 * the failure queues (depth, and oldest failure by FIRST send, as the sweeper measures it), every
 * function's errors and throttles, and parameter-log delivery. Created last in the stack, after
 * every alarm exists.
 */
export class OperationsDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const period = Duration.minutes(5);
    const alarmRows: cloudwatch.IWidget[][] = [];
    // Keep each status widget readable: a few dozen alarms per row.
    for (let i = 0; i < props.alerts.alarms.length; i += 40) {
      alarmRows.push([new cloudwatch.AlarmStatusWidget({ title: i === 0 ? 'Alarms' : 'Alarms (cont.)', width: 24, alarms: props.alerts.alarms.slice(i, i + 40) })]);
    }
    const fnLabel = (w: WatchedFunction) => w.fn.node.path.split('/').slice(1).join('/');
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(1),
      widgets: [
        ...alarmRows,
        [
          new cloudwatch.GraphWidget({
            title: 'Executions by job',
            width: 12,
            left: [...props.stateMachines].flatMap(([job, sm]) => [
              sm.metricStarted({ label: `${job} started`, period }),
              sm.metricSucceeded({ label: `${job} succeeded`, period }),
              sm.metricFailed({ label: `${job} failed`, period }),
              sm.metricTimedOut({ label: `${job} timed out`, period }),
              sm.metricAborted({ label: `${job} aborted`, period }),
            ]),
          }),
          new cloudwatch.GraphWidget({
            title: 'Failures waiting (messages) and oldest by first send (s)',
            width: 12,
            left: props.queues.map(({ label, queue }) => queue.metricApproximateNumberOfMessagesVisible({ label, period, statistic: cloudwatch.Stats.MAXIMUM })),
            right: props.queues.filter((q) => q.oldestAge).map((q) => (q.oldestAge as cloudwatch.Metric).with({ label: `${q.label} oldest` })),
          }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Function errors', width: 12, left: props.functions.map((w) => w.fn.metricErrors({ label: fnLabel(w), period, statistic: cloudwatch.Stats.SUM })) }),
          new cloudwatch.GraphWidget({ title: 'Function throttles', width: 12, left: props.functions.map((w) => w.fn.metricThrottles({ label: fnLabel(w), period, statistic: cloudwatch.Stats.SUM })) }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Parameter log delivery',
            width: 24,
            left: props.deliveryStreams.map(({ name, stream }) => stream.metric('DeliveryToS3.Success', { label: `${name} delivery success`, period, statistic: cloudwatch.Stats.MINIMUM })),
            right: props.deliveryStreams.map(({ name, stream }) => stream.metric('DeliveryToS3.DataFreshness', { label: `${name} data age (s)`, period, statistic: cloudwatch.Stats.MAXIMUM })),
          }),
        ],
      ],
    });
  }
}
