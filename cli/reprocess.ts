import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CliError, explain } from './errors';
import { table } from './format';

/**
 * The reprocess Lambda as the CLI sees it: a payload in, a summary out. The summary is read
 * loosely on purpose: counts the CLI does not know yet (added by a newer handler, e.g. `held`) are
 * printed generically, so the table keeps up without a CLI release.
 */
export type Summary = Record<string, unknown> & {
  items?: Array<{
    messageId?: string | null;
    taskId?: string | null;
    job?: string | null;
    error?: string | null;
    outcome?: string;
    reason?: string;
    function?: string | null;
    condition?: string | null;
    errorType?: string | null;
    tick?: string;
    replan?: boolean;
    payloadKeys?: string[];
  }>;
};

/** Invokes the function synchronously with `payload`; a function error becomes a CliError with its message. */
export async function invokeReprocess(lambda: LambdaClient, functionName: string, payload: Record<string, unknown>): Promise<Summary> {
  let r;
  try {
    r = await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(payload)) }));
  } catch (e) {
    throw explain(e, `invoke the reprocess function ${functionName} (lambda:InvokeFunction)`);
  }
  const text = r.Payload ? Buffer.from(r.Payload).toString('utf8') : 'null';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  if (r.FunctionError) {
    // Lambda answers 200 with X-Amz-Function-Error and {errorType, errorMessage} when the handler throws (Lambda API reference, Invoke).
    const b = (body ?? {}) as { errorType?: string; errorMessage?: string };
    const hint =
      b.errorType === 'InvalidPayloadError'
        ? 'Nothing was touched. If the field is unknown, the deployed reprocess function is older than this CLI: redeploy the stack.'
        : 'See the function\'s logs in CloudWatch Logs for the run.';
    throw new CliError(`The reprocess function failed: ${b.errorType ?? 'Error'}: ${b.errorMessage ?? text}`, hint);
  }
  if (typeof body !== 'object' || body === null) throw new CliError(`The reprocess function returned no summary: ${text.slice(0, 200)}`);
  return body as Summary;
}

/** Counts in the order an operator reads them; any other numeric field follows, alphabetically. */
const KNOWN_COUNTS = [
  'wouldStart',
  'started',
  'forced',
  'wouldReinvoke',
  'reinvoked',
  'wouldDrop',
  'dropped',
  'alreadyStarted',
  'alreadyHandled',
  'held',
  'unknownResumeStep',
  'invalid',
  'skipped',
  'failed',
  'notAttempted',
  'deleteFailed',
  'throttleEvents',
];
/** Numeric fields that are not counts of messages. */
const NOT_COUNTS = new Set(['remaining', 'durationMs']);

/** Every count of the summary, known ones first, new ones generically. */
export function summaryCounts(s: Summary): Array<[string, number]> {
  const numeric = Object.entries(s).filter(([k, v]) => typeof v === 'number' && !NOT_COUNTS.has(k)) as Array<[string, number]>;
  const rank = (k: string) => {
    const i = KNOWN_COUNTS.indexOf(k);
    return i === -1 ? KNOWN_COUNTS.length : i;
  };
  return numeric.sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
}

/** How the summary names the queue it acted on. */
const QUEUE_NAMES: Record<string, string> = { spool: 'the spool', quarantine: 'the quarantine', failedInvocations: 'the failed-invocations queue' };

/** The summary as text: a line of what happened, the counts, and the first items. */
export function formatSummary(s: Summary): string {
  if (s.source === 'tick') return formatTickSummary(s);
  const source = typeof s.source === 'string' ? s.source : 'spool';
  // A failed-invocations summary says which it did; a quarantine summary has `dropped` only when it dropped.
  const dropping = source === 'failedInvocations' ? s.drop === true : typeof s.dropped === 'number';
  const otherAction = source !== 'failedInvocations' ? [] : dropping ? ['wouldReinvoke', 'reinvoked'] : ['wouldDrop', 'dropped'];
  const what = source === 'failedInvocations' ? (dropping ? 'Drop of failed invocations' : 'Re-run of failed invocations') : dropping ? `Drop from ${QUEUE_NAMES[source] ?? source}` : source === 'quarantine' ? 'Replay from the quarantine' : 'Replay';
  const head = [
    // The spool's dry run keeps its familiar wording; the others say which routine they previewed.
    s.dryRun ? `Dry run${source === 'spool' ? '' : ` of the ${what.charAt(0).toLowerCase()}${what.slice(1)}`} (nothing ${source === 'failedInvocations' ? 'invoked' : 'started'}, deleted or moved)` : what,
    s.from && !dropping && source !== 'failedInvocations' ? `from ${String(s.from)}` : null,
    `stopped because ${String(s.stoppedBecause ?? 'unknown')}`,
    typeof s.durationMs === 'number' ? `${(s.durationMs / 1000).toFixed(1)} s` : null,
  ]
    .filter(Boolean)
    .join(', ');
  let out = `${head}\n`;
  if (s.receiveError) out += `Receive failed: ${String(s.receiveError)}\n`;
  out += '\n' + table(['COUNT', 'MESSAGES'], summaryCounts(s).filter(([k]) => !otherAction.includes(k)));
  out += `\nLeft in ${QUEUE_NAMES[source] ?? source}: ${s.remaining === null || s.remaining === undefined ? 'unknown' : String(s.remaining)}\n`;
  const all = Array.isArray(s.items) ? s.items : [];
  // Messages the filters did not select are looked at and left in place. Listing their ids among
  // those handled would invite copying them into a --drop --message-id: only --json shows them.
  const items = all.filter((i) => i.outcome !== 'skipped');
  const notSelected = all.length - items.length;
  if (notSelected) out += `\n${notSelected} message(s) seen and left in place: not selected by the filters (not listed; --json lists them)\n`;
  if (items.length) {
    out += `\nFirst ${items.length} message(s) handled:\n`;
    if (source === 'failedInvocations') {
      out += table(
        ['MESSAGE ID', 'FUNCTION', 'CONDITION', 'ERROR', 'TICK / PAYLOAD KEYS', 'OUTCOME', 'REASON'],
        items.map((i) => [i.messageId, i.function, i.condition, i.errorType, i.tick ? `${i.tick}${i.replan ? ' (replan)' : ''}` : (i.payloadKeys ?? []).join(','), i.outcome, i.reason]),
      );
    } else if (source === 'quarantine') {
      out += table(['MESSAGE ID', 'TASK', 'JOB', 'ERROR', 'OUTCOME', 'REASON'], items.map((i) => [i.messageId, i.taskId, i.job, i.error, i.outcome, i.reason]));
    } else {
      out += table(['TASK', 'JOB', 'ERROR', 'OUTCOME', 'REASON'], items.map((i) => [i.taskId, i.job, i.error, i.outcome, i.reason]));
    }
  }
  return out;
}

/** A tick run: what was sent to which producer, and its answer. */
export function formatTickSummary(s: Summary): string {
  const p = (s.producer ?? null) as Record<string, unknown> | null;
  const verb = s.replan ? 'Replan' : 'Re-run';
  let out = `${s.dryRun ? `Dry run: ${verb.toLowerCase()} not sent` : verb} of tick ${String(s.tick)} of ${String(s.job)} (${String(s.function)}): ${String(s.outcome)}\n`;
  if (s.outcome === 'failed') out += `The producer failed: ${String(s.error ?? 'unknown error')}. Its log (the "produce failed" or "tick planning" lines) says why; running the same command again resumes the tick.\n`;
  if (p) {
    const rows = Object.entries(p).filter(([, v]) => typeof v !== 'object' || v === null);
    out += '\n' + table(['PRODUCER', 'ANSWER'], rows);
    if (p.outcome === 'alreadyPlanned') out += '\nThe tick was planned already: nothing was started. To attempt every task of it again (e.g. specs rejected before are valid now), add --replan.\n';
    if (p.outcome === 'busy') out += '\nAnother invocation is planning this tick right now: wait for it, then look again.\n';
    if (p.outcome === 'paused') out += '\nThe job is paused (scheduled-jobs jobs shows by whom and why): nothing was planned and the tick is recorded as paused. Resume it, or add --ignore-pause.\n';
  }
  return out;
}
