import { OPERATOR_OUTPUTS } from '../../lib/operator-outputs';
import { UsageError } from '../errors';
import { formatSummary, invokeReprocess } from '../reprocess';
import { CommonOptions, Session } from '../session';
import { CliIo } from '../io';

/** Options of `replay` (each maps to one field of the reprocess payload, docs/reprocess.md). */
export interface ReplayOptions extends CommonOptions {
  readonly dryRun?: boolean;
  readonly job?: string;
  readonly errorType?: string;
  readonly taskId?: string[];
  readonly olderThan?: string;
  readonly newerThan?: string;
  readonly max?: string;
  readonly concurrency?: string;
  readonly mode?: string;
  readonly from?: string;
}

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a whole number, got "${v}"`);
  return Number(v);
}

/** The reprocess payload of the options; only given fields are sent, so the function's defaults apply. */
export function replayPayload(o: ReplayOptions, knownJobs: ReadonlySet<string>): Record<string, unknown> {
  if (o.job !== undefined && !knownJobs.has(o.job)) {
    throw new UsageError(`Unknown job "${o.job}"`, `Jobs of this stack: ${[...knownJobs].join(', ') || '(none)'}.`);
  }
  const taskIds = (o.taskId ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '');
  const p: Record<string, unknown> = {
    ...(o.dryRun ? { dryRun: true } : {}),
    ...(o.job !== undefined ? { job: o.job } : {}),
    ...(o.errorType !== undefined ? { errorType: o.errorType } : {}),
    ...(taskIds.length ? { taskIds } : {}),
    ...(o.olderThan !== undefined ? { olderThan: o.olderThan } : {}),
    ...(o.newerThan !== undefined ? { newerThan: o.newerThan } : {}),
    ...(o.max !== undefined ? { max: int('--max', o.max) } : {}),
    ...(o.concurrency !== undefined ? { concurrency: int('--concurrency', o.concurrency) } : {}),
    ...(o.mode !== undefined ? { mode: o.mode } : {}),
    // Passed through as typed: the function validates it (and names it if it does not know it yet).
    ...(o.from !== undefined ? { from: o.from } : {}),
  };
  return p;
}

/** `replay`: invokes the reprocess Lambda with the filters and prints its summary. */
export async function replay(session: Session, o: ReplayOptions, io: CliIo): Promise<number> {
  const stack = await session.stack();
  const payload = replayPayload(o, new Set(stack.stateMachines.keys()));
  const fn = stack.need(OPERATOR_OUTPUTS.reprocessFunctionName);
  if (!o.json) io.err(`${o.dryRun ? 'Dry run' : 'Replaying'} on ${stack.name} with ${JSON.stringify(payload)} ...\n`);
  const summary = await invokeReprocess(session.clients.lambda, fn, payload);
  io.out(o.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
  return 0;
}
