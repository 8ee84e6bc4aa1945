import { OPERATOR_OUTPUTS } from '../../lib/operator-outputs';
import { CliError, EXIT_FAILED, UsageError } from '../errors';
import { formatSummary, invokeReprocess } from '../reprocess';
import { CommonOptions, Session } from '../session';
import { CliIo } from '../io';

/** `--source` as typed on the command line -> the payload's `source`. */
export const REPLAY_SOURCES: Readonly<Record<string, string>> = { spool: 'spool', quarantine: 'quarantine', 'failed-invocations': 'failedInvocations' };

/** Options of `replay` (each maps to one field of the reprocess payload, docs/reprocess.md). */
export interface ReplayOptions extends CommonOptions {
  readonly source?: string;
  readonly dryRun?: boolean;
  readonly job?: string;
  readonly errorType?: string;
  readonly taskId?: string[];
  readonly messageId?: string[];
  readonly function?: string[];
  readonly olderThan?: string;
  readonly newerThan?: string;
  readonly max?: string;
  readonly concurrency?: string;
  readonly from?: string;
  readonly drop?: boolean;
  readonly force?: boolean;
}

/** Options of `tick rerun`. */
export interface TickRerunOptions extends CommonOptions {
  readonly job?: string;
  readonly tick?: string;
  readonly replan?: boolean;
  readonly dryRun?: boolean;
  /** Plan it although the job is paused (`scheduled-jobs pause`). */
  readonly ignorePause?: boolean;
  /** Run it although its tick is older than 42 days (lambdas/shared/tick-age.ts). */
  readonly force?: boolean;
}

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a whole number, got "${v}"`);
  return Number(v);
}

/** Repeated or comma-separated values. */
function list(v: string[] | undefined): string[] {
  return (v ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '');
}

function checkJob(job: string | undefined, knownJobs: ReadonlySet<string>): void {
  if (job !== undefined && !knownJobs.has(job)) {
    throw new UsageError(`Unknown job "${job}"`, `Jobs in bin/config.ts for this stage: ${[...knownJobs].join(', ') || '(none)'}.`);
  }
}

/** The jobs of the stage's config: what the command line is checked against before any AWS call. */
export function configJobs(session: Pick<Session, 'config'>): ReadonlySet<string> {
  return new Set(session.config.jobs.map((j) => j.name));
}

/** A job of the config that the deployed stack does not have (deployed from an older commit, or `deploy: false`). */
export function checkDeployed(job: string | undefined, stackName: string, stateMachines: ReadonlyMap<string, string>): void {
  if (job !== undefined && !stateMachines.has(job)) {
    throw new CliError(`Job "${job}" is in bin/config.ts but not deployed in ${stackName}`, `Jobs of this stack: ${[...stateMachines.keys()].join(', ') || '(none)'}. Deploy the stack, or check out the commit that was deployed.`);
  }
}

/**
 * The reprocess payload of the options; only given fields are sent, so the function's defaults
 * apply. Flags that mean nothing for the chosen source are refused here, before anything is invoked.
 */
export function replayPayload(o: ReplayOptions, knownJobs: ReadonlySet<string>): Record<string, unknown> {
  checkJob(o.job, knownJobs);
  const source = o.source === undefined ? 'spool' : REPLAY_SOURCES[o.source];
  if (source === undefined) throw new UsageError(`Unknown --source "${o.source}"`, `Use one of: ${Object.keys(REPLAY_SOURCES).join(', ')}.`);
  const only = (flag: string, given: boolean, sources: string[]) => {
    if (given && !sources.includes(source)) {
      throw new UsageError(`${flag} does not apply to --source ${o.source ?? 'spool'}`, `It applies to --source ${sources.map((x) => Object.keys(REPLAY_SOURCES).find((k) => REPLAY_SOURCES[k] === x)).join(' or ')}.`);
    }
  };
  const taskIds = list(o.taskId);
  const messageIds = list(o.messageId);
  const functions = list(o.function);
  only('--drop', o.drop === true, ['quarantine', 'failedInvocations']);
  only('--message-id', messageIds.length > 0, ['quarantine', 'failedInvocations']);
  only('--force', o.force === true, ['quarantine', 'failedInvocations']);
  only('--function', functions.length > 0, ['failedInvocations']);
  only('--task-id', taskIds.length > 0, ['spool', 'quarantine']);
  only('--error-type', o.errorType !== undefined, ['spool', 'quarantine']);
  only('--from', o.from !== undefined, ['spool', 'quarantine']);
  if (o.force && source === 'quarantine' && taskIds.length === 0) throw new UsageError('--force replays past spool.maxReplays or the 42-day tick age only the tasks you name', 'Give them with --task-id.');
  if (o.force && source === 'failedInvocations' && messageIds.length === 0) {
    throw new UsageError('--force re-runs a producer tick older than 42 days only for the records you name', 'Give them with --message-id (the dry run lists them, with each record\'s tick).');
  }
  return {
    ...(source !== 'spool' ? { source } : {}),
    ...(o.dryRun ? { dryRun: true } : {}),
    ...(o.drop ? { drop: true } : {}),
    ...(o.force ? { force: true } : {}),
    ...(o.job !== undefined ? { job: o.job } : {}),
    ...(o.errorType !== undefined ? { errorType: o.errorType } : {}),
    ...(taskIds.length ? { taskIds } : {}),
    ...(messageIds.length ? { messageIds } : {}),
    ...(functions.length ? { functions } : {}),
    ...(o.olderThan !== undefined ? { olderThan: o.olderThan } : {}),
    ...(o.newerThan !== undefined ? { newerThan: o.newerThan } : {}),
    ...(o.max !== undefined ? { max: int('--max', o.max) } : {}),
    ...(o.concurrency !== undefined ? { concurrency: int('--concurrency', o.concurrency) } : {}),
    // Passed through as typed: the function validates it (and names it if it does not know it yet).
    ...(o.from !== undefined ? { from: o.from } : {}),
  };
}

/** The reprocess payload of `tick rerun`. */
export function tickPayload(o: TickRerunOptions, knownJobs: ReadonlySet<string>): Record<string, unknown> {
  if (o.job === undefined) throw new UsageError('tick rerun needs --job', `Jobs of this stage: ${[...knownJobs].join(', ') || '(none)'}.`);
  checkJob(o.job, knownJobs);
  if (o.tick === undefined) throw new UsageError('tick rerun needs --tick', 'The tick as in task ids (e.g. 20261125T1800Z, UTC) or an ISO time with a zone (the failed-invocations dry run lists it).');
  return { source: 'tick', job: o.job, tick: o.tick, ...(o.replan ? { replan: true } : {}), ...(o.ignorePause ? { ignorePause: true } : {}), ...(o.force ? { force: true } : {}), ...(o.dryRun ? { dryRun: true } : {}) };
}

/** `replay`: invokes the reprocess Lambda with the filters and prints its summary. */
export async function replay(session: Session, o: ReplayOptions, io: CliIo): Promise<number> {
  // Every flag is checked against the stage's config before AWS is called; then the job against the stack.
  const payload = replayPayload(o, configJobs(session));
  const stack = await session.stack();
  checkDeployed(o.job, stack.name, stack.stateMachines);
  const fn = stack.need(OPERATOR_OUTPUTS.reprocessFunctionName);
  const verb = o.dryRun ? 'Dry run' : o.drop ? 'Dropping' : o.source === 'failed-invocations' ? 'Re-running' : 'Replaying';
  if (!o.json) io.err(`${verb} on ${stack.name} with ${JSON.stringify(payload)} ...\n`);
  const summary = await invokeReprocess(session.clients.lambda, fn, payload);
  io.out(o.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
  return 0;
}

/** `tick rerun`: runs one tick again (or replans it) through the reprocess Lambda, which invokes the job's producer. */
export async function tickRerun(session: Session, o: TickRerunOptions, io: CliIo): Promise<number> {
  const payload = tickPayload(o, configJobs(session));
  const stack = await session.stack();
  checkDeployed(o.job, stack.name, stack.stateMachines);
  const fn = stack.need(OPERATOR_OUTPUTS.reprocessFunctionName);
  if (!o.json) io.err(`${o.dryRun ? 'Dry run' : o.replan ? 'Re-planning' : 'Re-running'} on ${stack.name} with ${JSON.stringify(payload)} ...\n`);
  const summary = await invokeReprocess(session.clients.lambda, fn, payload);
  io.out(o.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
  return summary.outcome === 'failed' ? EXIT_FAILED : 0;
}
