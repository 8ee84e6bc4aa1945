/**
 * A CloudWatch stand-in for the operator CLI's tests: DescribeAlarms, GetMetricData (see
 * getMetricData below for what of it is modelled) and SetAlarmState (which runs the alarm's actions
 * on a state change) over AWS JSON 1.0 (the protocol
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

/** One datapoint of a metric as the stand-in stores it (what PutMetricData would have sent). */
export interface StandinDatapoint {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly timestamp: Date;
  readonly value: number;
}

export interface CloudWatchStandin extends StandinServer {
  /** Alarms by name (change `StateValue` to move one into ALARM). */
  readonly alarms: Map<string, StandinAlarm>;
  /** Datapoints served by GetMetricData (push to seed a metric). */
  readonly datapoints: StandinDatapoint[];
  /** Requests per operation. */
  readonly calls: Record<string, number>;
}

/** Starts the stand-in with `alarms` in `region`. */
export async function startCloudWatchStandin(region: string, alarms: ReadonlyArray<StandinAlarm> = [], options: CloudWatchStandinOptions = {}): Promise<CloudWatchStandin> {
  const byName = new Map(alarms.map((a) => [a.AlarmName, a]));
  const datapoints: StandinDatapoint[] = [];
  const calls: Record<string, number> = {};
  const started = new Date();
  const server = await startStandinServer(async ({ req, body, scope }, res) => {
    const op = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    calls[op] = (calls[op] ?? 0) + 1;
    const fail = (type: string, message: string, status = 400) => sendJsonError(res, status, CONTENT_TYPE, type, message, { 'x-amzn-query-error': `${type};Sender` });
    if (!scope) return fail('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
    if (op === 'GetMetricData') {
      const p = JSON.parse(body || '{}') as GetMetricDataInput;
      const r = getMetricData(scope.region === region ? datapoints : [], p);
      if ('error' in r) return fail('ValidationError', r.error);
      res.writeHead(200, { 'content-type': CONTENT_TYPE }).end(JSON.stringify(r));
      return;
    }
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
  return { ...server, alarms: byName, datapoints, calls };
}

interface GetMetricDataInput {
  MetricDataQueries?: Array<{
    Id: string;
    Label?: string;
    ReturnData?: boolean;
    MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: Array<{ Name: string; Value: string }> }; Period: number; Stat: string };
    Expression?: string;
  }>;
  StartTime?: number;
  EndTime?: number;
  ScanBy?: 'TimestampAscending' | 'TimestampDescending';
}

const STATS: Record<string, (v: number[]) => number> = {
  Sum: (v) => v.reduce((a, b) => a + b, 0),
  Maximum: (v) => Math.max(...v),
  Minimum: (v) => Math.min(...v),
  Average: (v) => v.reduce((a, b) => a + b, 0) / v.length,
  SampleCount: (v) => v.length,
};

/**
 * GetMetricData over the stored datapoints, as the API reference describes it: metric queries only
 * (MetricStat; math expressions are not modelled and refused), at most 500 queries; a metric matches
 * on namespace, name and exactly its dimensions; datapoints in [StartTime, EndTime) are grouped into
 * periods counted from StartTime, and only periods with data are returned; newest first unless ScanBy
 * is TimestampAscending.
 */
function getMetricData(points: ReadonlyArray<StandinDatapoint>, p: GetMetricDataInput): { MetricDataResults: unknown[]; Messages: [] } | { error: string } {
  const queries = p.MetricDataQueries ?? [];
  if (queries.length === 0 || queries.length > 500) return { error: 'MetricDataQueries: 1-500 queries' };
  if (p.StartTime === undefined || p.EndTime === undefined || p.EndTime <= p.StartTime) return { error: 'StartTime must be before EndTime' };
  const start = p.StartTime * 1000;
  const end = p.EndTime * 1000;
  const results: unknown[] = [];
  for (const q of queries) {
    if (!q.MetricStat) return { error: `query ${q.Id}: only MetricStat queries are served by the stand-in` };
    const { Metric: m, Period, Stat } = q.MetricStat;
    const stat = STATS[Stat];
    if (!stat) return { error: `query ${q.Id}: statistic ${Stat} not served by the stand-in` };
    if (!Number.isInteger(Period) || Period < 1 || (Period >= 60 && Period % 60 !== 0)) return { error: `query ${q.Id}: Period must be 1, 5, 10, 30 or a multiple of 60` };
    const dims = Object.fromEntries((m.Dimensions ?? []).map((d) => [d.Name, d.Value]));
    const same = (d: Readonly<Record<string, string>>) => Object.keys(d).length === Object.keys(dims).length && Object.entries(dims).every(([k, v]) => d[k] === v);
    const buckets = new Map<number, number[]>();
    for (const dp of points) {
      const t = dp.timestamp.getTime();
      if (dp.namespace !== m.Namespace || dp.metricName !== m.MetricName || !same(dp.dimensions) || t < start || t >= end) continue;
      const b = start + Math.floor((t - start) / (Period * 1000)) * Period * 1000;
      buckets.set(b, [...(buckets.get(b) ?? []), dp.value]);
    }
    const times = [...buckets.keys()].sort((a, b) => (p.ScanBy === 'TimestampAscending' ? a - b : b - a));
    if (q.ReturnData === false) continue;
    results.push({ Id: q.Id, Label: q.Label ?? m.MetricName, Timestamps: times.map((t) => t / 1000), Values: times.map((t) => stat(buckets.get(t)!)), StatusCode: 'Complete' });
  }
  return { MetricDataResults: results, Messages: [] };
}
