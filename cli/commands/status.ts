import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { QUARANTINE_ATTR_REASON } from '../../lambdas/reprocess/drain';
import { SPOOL_ATTR_ERROR, SPOOL_ATTR_JOB } from '../../lambdas/shared/spool-message';
import { OPERATOR_OUTPUTS } from '../../lib/operator-outputs';
import { explain, UsageError } from '../errors';
import { age, isoMinute, table } from '../format';
import { holdStates, HoldState } from '../holds';
import { CliDeps, CliIo } from '../io';
import { Peeked, peek, queueCounts, QueueCounts } from '../queues';
import { CommonOptions, Session } from '../session';
import { checkSubscriptions, subscriptionWarnings } from '../subscriptions';
import { formatHolds } from './hold';

export interface StatusOptions extends CommonOptions {
  /** Messages looked at per queue at most. */
  readonly scan?: string;
  /** false with --no-peek: counts only, no message is received. */
  readonly peek?: boolean;
}

/** Messages of one queue grouped by what an operator acts on. */
export interface Group {
  readonly job: string;
  readonly error: string;
  /** Quarantine: why it was quarantined; failed invocations: the function. */
  readonly detail?: string;
  readonly count: number;
  /** Age of the oldest (first spooled) message of the group, ms. */
  readonly oldestAgeMs: number | null;
}

/** One queue's status. */
export interface QueueStatus {
  readonly queue: 'spool' | 'quarantine' | 'failedInvocations';
  readonly counts: QueueCounts;
  /** Null with --no-peek. */
  readonly groups: Group[] | null;
  readonly oldestAgeMs: number | null;
  /** More messages than --scan: groups cover the first ones only. */
  readonly truncated: boolean;
}

export interface AlarmStatus {
  readonly name: string;
  readonly since: string | null;
  readonly reason: string | null;
}

const UNKNOWN = '(none)';

function group<T>(msgs: ReadonlyArray<Peeked<T>>, key: (m: Peeked<T>) => { job: string; error: string; detail?: string }, nowMs: number): Group[] {
  const groups = new Map<string, { job: string; error: string; detail?: string; count: number; oldest: number | null }>();
  for (const m of msgs) {
    const k = key(m);
    const id = JSON.stringify([k.job, k.error, k.detail ?? null]);
    const g = groups.get(id) ?? { ...k, count: 0, oldest: null };
    g.count++;
    if (m.firstSentMs !== null && (g.oldest === null || m.firstSentMs < g.oldest)) g.oldest = m.firstSentMs;
    groups.set(id, g);
  }
  return [...groups.values()]
    .map((g) => ({ job: g.job, error: g.error, ...(g.detail !== undefined ? { detail: g.detail } : {}), count: g.count, oldestAgeMs: g.oldest === null ? null : nowMs - g.oldest }))
    .sort((a, b) => b.count - a.count || a.job.localeCompare(b.job) || a.error.localeCompare(b.error));
}

/** The function name of a Lambda on-failure destination record (its requestContext.functionArn). */
function functionOf(body: string): string {
  try {
    const arn = (JSON.parse(body) as { requestContext?: { functionArn?: string } }).requestContext?.functionArn ?? '';
    return arn.split(':function:')[1]?.split(':')[0] || UNKNOWN;
  } catch {
    return UNKNOWN;
  }
}

/** Alarms of the stack (ListStackResources) that are in ALARM (DescribeAlarms). */
export async function alarmsInAlarm(session: Session): Promise<{ total: number; inAlarm: AlarmStatus[] }> {
  const names = await session.stackResources('AWS::CloudWatch::Alarm');
  const inAlarm: AlarmStatus[] = [];
  for (let i = 0; i < names.length; i += 100) {
    // At most 100 names per request (CloudWatch API reference, DescribeAlarms); all states, filtered here.
    let token: string | undefined;
    do {
      let r;
      try {
        r = await session.clients.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: names.slice(i, i + 100), MaxRecords: 100, NextToken: token }));
      } catch (e) {
        throw explain(e, 'read the alarms (cloudwatch:DescribeAlarms)');
      }
      for (const a of r.MetricAlarms ?? []) {
        if (a.StateValue === 'ALARM') inAlarm.push({ name: a.AlarmName ?? '', since: a.StateUpdatedTimestamp ? a.StateUpdatedTimestamp.toISOString() : null, reason: a.StateReason ?? null });
      }
      token = r.NextToken;
    } while (token);
  }
  return { total: names.length, inAlarm: inAlarm.sort((a, b) => a.name.localeCompare(b.name)) };
}

/** `status`: spool, quarantine and failed invocations by job and error with the oldest age, holds, alarms in ALARM. */
export async function status(session: Session, o: StatusOptions, io: CliIo, deps: CliDeps): Promise<number> {
  const scan = o.scan === undefined ? 1000 : Number(o.scan);
  if (!Number.isInteger(scan) || scan < 1 || scan > 20_000) throw new UsageError(`--scan must be a whole number from 1 to 20000, got "${o.scan}"`);
  const stack = await session.stack();
  const who = await session.identity();
  const sqs = session.clients.sqs;
  const nowMs = deps.now().getTime();
  const queues: QueueStatus[] = [];
  const specs = [
    { queue: 'spool' as const, url: stack.need(OPERATOR_OUTPUTS.spoolQueueUrl) },
    { queue: 'quarantine' as const, url: stack.need(OPERATOR_OUTPUTS.quarantineQueueUrl) },
    { queue: 'failedInvocations' as const, url: stack.need(OPERATOR_OUTPUTS.failedInvocationsQueueUrl) },
  ];
  for (const s of specs) {
    const counts = await queueCounts(sqs, s.url, s.queue);
    if (o.peek === false || counts.visible === 0) {
      queues.push({ queue: s.queue, counts, groups: o.peek === false ? null : [], oldestAgeMs: null, truncated: false });
      continue;
    }
    // Bodies are read only for failed invocations (the function name); the spool and the quarantine group on attributes.
    const p = await peek(sqs, s.url, s.queue, scan, (body) => (s.queue === 'failedInvocations' ? functionOf(body) : null));
    const groups =
      s.queue === 'spool'
        ? group(p.messages, (m) => ({ job: m.attributes[SPOOL_ATTR_JOB] ?? UNKNOWN, error: m.attributes[SPOOL_ATTR_ERROR] ?? UNKNOWN }), nowMs)
        : s.queue === 'quarantine'
          ? group(p.messages, (m) => ({ job: m.attributes[SPOOL_ATTR_JOB] ?? UNKNOWN, error: m.attributes[SPOOL_ATTR_ERROR] ?? UNKNOWN, detail: m.attributes[QUARANTINE_ATTR_REASON] ?? UNKNOWN }), nowMs)
          : group(p.messages, (m) => ({ job: UNKNOWN, error: UNKNOWN, detail: m.extracted ?? UNKNOWN }), nowMs);
    const oldest = groups.reduce<number | null>((acc, g) => (g.oldestAgeMs !== null && (acc === null || g.oldestAgeMs > acc) ? g.oldestAgeMs : acc), null);
    queues.push({ queue: s.queue, counts, groups, oldestAgeMs: oldest, truncated: p.truncated });
  }
  const holds: HoldState[] = session.config.dependencies.length
    ? await holdStates(session.clients.dynamo, stack.need(OPERATOR_OUTPUTS.coordinationTableName), session.config.dependencies, session.config.timeZone, deps.now())
    : [];
  const alarms = await alarmsInAlarm(session);
  // An alarm pages nobody through a subscription that was never confirmed: the app's topic, and the configured one.
  const topics = [...(await session.stackResources('AWS::SNS::Topic')), ...(session.config.alerts.topicArn ? [session.config.alerts.topicArn] : [])];
  const subscriptions = await checkSubscriptions(session.clients.sns, topics);
  const result = { stack: stack.name, region: await session.region(), account: who.account, caller: who.arn, at: new Date(nowMs).toISOString(), queues, holds, alarms, subscriptions };
  if (o.json) {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  let out = `${stack.name} in ${result.region} (account ${who.account}) at ${isoMinute(new Date(nowMs))}\n\n`;
  out += table(
    ['QUEUE', 'WAITING', 'IN FLIGHT', 'DELAYED', 'OLDEST'],
    queues.map((q) => [q.queue, q.counts.visible, q.counts.inFlight, q.counts.delayed, q.oldestAgeMs === null ? null : age(q.oldestAgeMs)]),
  );
  const [spool, quarantine, failed] = queues;
  const note = (q: QueueStatus) => (q.truncated ? ` (first ${scan} looked at; --scan for more)` : '');
  if (spool.groups?.length) out += `\nSpool by job and error${note(spool)}:\n` + table(['JOB', 'ERROR', 'COUNT', 'OLDEST'], spool.groups.map((g) => [g.job, g.error, g.count, g.oldestAgeMs === null ? null : age(g.oldestAgeMs)]));
  if (quarantine.groups?.length) {
    out += `\nQuarantine by job and reason${note(quarantine)}:\n` + table(['JOB', 'ERROR', 'REASON', 'COUNT', 'OLDEST'], quarantine.groups.map((g) => [g.job, g.error, g.detail, g.count, g.oldestAgeMs === null ? null : age(g.oldestAgeMs)]));
  }
  if (failed.groups?.length) out += `\nFailed invocations by function${note(failed)}:\n` + table(['FUNCTION', 'COUNT', 'OLDEST'], failed.groups.map((g) => [g.detail, g.count, g.oldestAgeMs === null ? null : age(g.oldestAgeMs)]));
  if (o.peek === false) out += '\n(--no-peek: no message was read; counts are SQS\'s approximate ones)\n';
  if (holds.length) out += '\nHolds:\n' + formatHolds(holds, session.config.timeZone);
  out += `\nAlarms: ${alarms.inAlarm.length} of ${alarms.total} in ALARM\n`;
  if (alarms.inAlarm.length) out += table(['ALARM', 'SINCE', 'REASON'], alarms.inAlarm.map((a) => [a.name, a.since ? isoMinute(new Date(a.since)) : null, a.reason]));
  const warnings = subscriptionWarnings(subscriptions);
  if (warnings.length) out += `\nAlarm subscriptions:\n${warnings.map((w) => `  ${w}\n`).join('')}`;
  if (spool.counts.visible > 0) out += '\nNext: scheduled-jobs replay --dry-run (what a replay would do), then scheduled-jobs replay --job <job>.\n';
  io.out(out);
  return 0;
}
