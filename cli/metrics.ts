import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { zonedParts } from '../lambdas/shared/param-log';
import type { HourBar } from '../local/offline-day/report';
import { explain } from './errors';

/** One CloudWatch metric, one statistic. */
export interface MetricSpec {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly stat: 'Sum' | 'Maximum' | 'Average';
}

/** `yyyy-MM-dd HH` of the hour that starts at `t`, in `timeZone` (the offline report's hour labels). */
export function hourLabel(t: Date, timeZone: string): string {
  const p = zonedParts(t, timeZone);
  return `${p.year}-${p.month}-${p.day} ${p.hour}`;
}

/**
 * Hourly values of a metric from `from` (floored to the hour) to `to`, one bar per hour, 0 for an
 * hour without data (GetMetricData returns only periods that have datapoints: CloudWatch API
 * reference, "GetMetricData"). Periods of an hour are kept for 63 days (CloudWatch user guide,
 * "Metrics retention"), longer than a report covers.
 */
export async function hourlySeries(cw: CloudWatchClient, m: MetricSpec, from: Date, to: Date, timeZone: string): Promise<HourBar[]> {
  const start = new Date(Math.floor(from.getTime() / 3_600_000) * 3_600_000);
  const values = new Map<number, number>();
  let token: string | undefined;
  try {
    do {
      const r = await cw.send(
        new GetMetricDataCommand({
          StartTime: start,
          EndTime: to,
          ScanBy: 'TimestampAscending',
          NextToken: token,
          MetricDataQueries: [
            {
              Id: 'm',
              MetricStat: { Metric: { Namespace: m.namespace, MetricName: m.metricName, Dimensions: Object.entries(m.dimensions).map(([Name, Value]) => ({ Name, Value })) }, Period: 3600, Stat: m.stat },
            },
          ],
        }),
      );
      const res = r.MetricDataResults?.[0];
      (res?.Timestamps ?? []).forEach((t, i) => values.set(t.getTime(), res?.Values?.[i] ?? 0));
      token = r.NextToken;
    } while (token);
  } catch (e) {
    throw explain(e, `read the metric ${m.namespace} ${m.metricName} (cloudwatch:GetMetricData)`);
  }
  const bars: HourBar[] = [];
  for (let t = start.getTime(); t < to.getTime(); t += 3_600_000) bars.push({ hour: hourLabel(new Date(t), timeZone), value: values.get(t) ?? 0 });
  return bars;
}
