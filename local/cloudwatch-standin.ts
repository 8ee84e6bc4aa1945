/**
 * A CloudWatch stand-in for the operator CLI's tests: DescribeAlarms (and SetAlarmState, which runs
 * the alarm's actions on a state change) over AWS JSON 1.0 (the protocol
 * of the current `@aws-sdk/client-cloudwatch`, target `GraniteServiceVersion20100801`), for the real
 * client pointed at it (AWS_ENDPOINT_URL_CLOUDWATCH). Filters as the API does: `AlarmNames` (at most
 * 100), `AlarmNamePrefix` (not with AlarmNames), `StateValue`, pages of `MaxRecords` (1-100, default
 * 50) with NextToken (AWS CloudWatch API reference, DescribeAlarms). Alarms live in one region.
 * Never bundled into Lambda code.
 */
import { sendJsonError, StandinServer, startStandinServer } from './standin-http';

const CONTENT_TYPE = 'application/x-amz-json-1.0';

export interface StandinAlarm {
  readonly AlarmName: string;
  StateValue: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  StateReason?: string;
  /** @default the stand-in's start */
  StateUpdatedTimestamp?: Date;
  readonly AlarmDescription?: string;
  /** Actions (SNS topic ARNs) run when the alarm enters ALARM / OK. */
  readonly AlarmActions?: ReadonlyArray<string>;
  readonly OKActions?: ReadonlyArray<string>;
}

/** Options of the stand-in. */
export interface CloudWatchStandinOptions {
  /**
   * Runs an alarm's actions: called by SetAlarmState when the state changes ("When the updated state
   * differs from the previous value, the action configured for the appropriate state is invoked":
   * AWS CloudWatch API reference, SetAlarmState).
   */
  readonly onAction?: (topicArn: string, alarm: StandinAlarm, previous: string) => Promise<void>;
}

export interface CloudWatchStandin extends StandinServer {
  /** Alarms by name (change `StateValue` to move one into ALARM). */
  readonly alarms: Map<string, StandinAlarm>;
  /** Requests per operation. */
  readonly calls: Record<string, number>;
}

/** Starts the stand-in with `alarms` in `region`. */
export async function startCloudWatchStandin(region: string, alarms: ReadonlyArray<StandinAlarm> = [], options: CloudWatchStandinOptions = {}): Promise<CloudWatchStandin> {
  const byName = new Map(alarms.map((a) => [a.AlarmName, a]));
  const calls: Record<string, number> = {};
  const started = new Date();
  const server = await startStandinServer(async ({ req, body, scope }, res) => {
    const op = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    calls[op] = (calls[op] ?? 0) + 1;
    const fail = (type: string, message: string, status = 400) => sendJsonError(res, status, CONTENT_TYPE, type, message, { 'x-amzn-query-error': `${type};Sender` });
    if (!scope) return fail('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
    if (op === 'SetAlarmState') {
      const q = JSON.parse(body || '{}') as { AlarmName?: string; StateValue?: StandinAlarm['StateValue']; StateReason?: string };
      const alarm = scope.region === region ? byName.get(String(q.AlarmName)) : undefined;
      if (!alarm) return fail('ResourceNotFound', `alarm ${q.AlarmName} does not exist`, 404);
      if (!q.StateValue || !['OK', 'ALARM', 'INSUFFICIENT_DATA'].includes(q.StateValue) || !q.StateReason) return fail('ValidationError', 'StateValue (OK, ALARM, INSUFFICIENT_DATA) and StateReason are required');
      const previous = alarm.StateValue;
      alarm.StateValue = q.StateValue;
      alarm.StateReason = q.StateReason;
      alarm.StateUpdatedTimestamp = new Date();
      if (previous !== q.StateValue) {
        const actions = q.StateValue === 'ALARM' ? alarm.AlarmActions : q.StateValue === 'OK' ? alarm.OKActions : [];
        for (const a of actions ?? []) await options.onAction?.(a, alarm, previous);
      }
      return res.writeHead(200, { 'content-type': CONTENT_TYPE }).end('{}');
    }
    if (op !== 'DescribeAlarms') return fail('UnknownOperationException', `not served by the stand-in: ${op}`);
    const p = JSON.parse(body || '{}') as { AlarmNames?: string[]; AlarmNamePrefix?: string; StateValue?: string; MaxRecords?: number; NextToken?: string };
    if (p.AlarmNames && p.AlarmNames.length > 100) return fail('ValidationError', 'AlarmNames: at most 100 names');
    if (p.AlarmNames && p.AlarmNamePrefix) return fail('InvalidParameterCombination', 'AlarmNames and AlarmNamePrefix cannot be used together');
    const max = p.MaxRecords ?? 50;
    if (max < 1 || max > 100) return fail('ValidationError', 'MaxRecords must be 1-100');
    const all = scope.region !== region ? [] : [...byName.values()];
    const matching = all.filter(
      (a) =>
        (!p.AlarmNames || p.AlarmNames.includes(a.AlarmName)) &&
        (!p.AlarmNamePrefix || a.AlarmName.startsWith(p.AlarmNamePrefix)) &&
        (!p.StateValue || a.StateValue === p.StateValue),
    );
    const start = Number(p.NextToken ?? '0');
    const page = matching.slice(start, start + max);
    res.writeHead(200, { 'content-type': CONTENT_TYPE }).end(
      JSON.stringify({
        MetricAlarms: page.map((a) => ({
          AlarmName: a.AlarmName,
          AlarmArn: `arn:aws:cloudwatch:${region}:000000000000:alarm:${a.AlarmName}`,
          AlarmDescription: a.AlarmDescription,
          StateValue: a.StateValue,
          StateReason: a.StateReason ?? `Threshold ${a.StateValue === 'ALARM' ? 'crossed' : 'not crossed'}`,
          StateUpdatedTimestamp: (a.StateUpdatedTimestamp ?? started).getTime() / 1000,
          AlarmActions: a.AlarmActions ?? [],
          OKActions: a.OKActions ?? [],
        })),
        CompositeAlarms: [],
        ...(start + max < matching.length ? { NextToken: String(start + max) } : {}),
      }),
    );
  });
  return { ...server, alarms: byName, calls };
}
