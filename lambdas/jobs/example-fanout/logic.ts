import { createHash } from 'node:crypto';
import { InvalidTaskError, TransientError } from '../../shared/errors';
import { JsonObject, JsonValue } from '../../shared/json';
import { TaskSpec } from '../../producer/logic';
import { MAX_PARTS } from './params';

/**
 * The second example job: a fan-out and an aggregate (a Celery chord). Per account, ListParts
 * splits the account's batch into parts, ProcessParts runs ProcessPart on each (a map, at most 5 at
 * once), and Summarize runs Aggregate and Audit in parallel on the parts' results. It calls nothing
 * external, so it runs as is in a sandbox stage.
 */

/**
 * Params of one task. `failPart` makes that part fail (tests and the offline day's faults), on every
 * attempt of the task, or only on its first `failAttempts` attempts (a resource that recovers: a
 * replay after them succeeds).
 */
export interface AccountParams {
  readonly account: string;
  readonly parts: number;
  readonly failPart?: number;
  readonly failAttempts?: number;
  /** The account holder's name (personal data: it must never leave the lock). */
  readonly holder?: string;
}

/** One item of the map. */
export interface PartItem extends JsonObject {
  account: string;
  part: number;
  fail: boolean;
}

/** Most parts a task may have (the map's maxItems in bin/config.ts); declared with the params schema. */
export { MAX_PARTS };

function unit(...xs: Array<string | number>): number {
  return createHash('sha256').update(xs.join('|')).digest().readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * Producer: one task per account per tick, keyed by account (the same keys every tick: the
 * exclusive key makes a slow task and the next tick's task of one account run one after the other).
 */
export function produceAccounts(scheduledTime: Date, accounts: number, failEvery = 0, failAttempts = 0, canary = ''): TaskSpec[] {
  return Array.from({ length: accounts }, (_, i) => {
    const account = `acct-${String(i + 1).padStart(3, '0')}`;
    const parts = 3 + Math.floor(unit(account, scheduledTime.toISOString()) * 10);
    const params: JsonObject = { account, parts, holder: canary ? `Holder ${i + 1} ${canary}` : `Holder ${i + 1}` };
    if (failEvery > 0 && Math.floor(scheduledTime.getTime() / 60_000) % failEvery === 0 && i === 0) {
      params.failPart = parts - 1;
      if (failAttempts > 0) params.failAttempts = failAttempts;
    }
    return { key: account, params };
  });
}

/** Validates params (InvalidTaskError names the field, never the value). */
export function parseAccount(params: JsonValue): AccountParams {
  const p = params as Record<string, JsonValue> | null;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new InvalidTaskError('params must be an object');
  if (typeof p.account !== 'string' || p.account === '') throw new InvalidTaskError('params.account must be a non-empty string');
  if (typeof p.parts !== 'number' || !Number.isInteger(p.parts) || p.parts < 1 || p.parts > MAX_PARTS) throw new InvalidTaskError(`params.parts must be an integer 1-${MAX_PARTS}`);
  if (p.failPart !== undefined && (typeof p.failPart !== 'number' || !Number.isInteger(p.failPart))) throw new InvalidTaskError('params.failPart must be an integer');
  if (p.failAttempts !== undefined && (typeof p.failAttempts !== 'number' || !Number.isInteger(p.failAttempts) || p.failAttempts < 1)) {
    throw new InvalidTaskError('params.failAttempts must be a positive integer');
  }
  return {
    account: p.account,
    parts: p.parts,
    ...(typeof p.failPart === 'number' ? { failPart: p.failPart } : {}),
    ...(typeof p.failAttempts === 'number' ? { failAttempts: p.failAttempts } : {}),
    ...(typeof p.holder === 'string' ? { holder: p.holder } : {}),
  };
}

/** ListParts: the items of the map, under `parts`. */
export function listParts(params: JsonValue): { parts: PartItem[] } {
  const a = parseAccount(params);
  return { parts: Array.from({ length: a.parts }, (_, part) => ({ account: a.account, part, fail: a.failPart === part })) };
}

/**
 * ProcessPart: one item. A part marked `fail` fails with a retryable error every time (so the task is
 * spooled after the retries), or, when the task's params say `failAttempts`, only on those first
 * attempts of the task (`attempt` is the envelope's: 1, then 2 for the first replay, ...).
 */
export function processPart(item: JsonValue, index: number | undefined, task: { attempt: number; failAttempts?: number; holder?: string } = { attempt: 1 }): JsonObject {
  const it = item as Partial<PartItem> | null;
  if (!it || typeof it !== 'object' || typeof it.part !== 'number' || typeof it.account !== 'string') throw new InvalidTaskError('the item must be {account, part}');
  if (index !== undefined && index !== it.part) throw new InvalidTaskError('the item index does not match its part');
  if (it.fail && (task.failAttempts === undefined || task.attempt <= task.failAttempts)) throw new TransientError(`part ${it.part} of ${task.holder ?? it.account} could not be processed`);
  return { part: it.part, checksum: createHash('sha256').update(`${it.account}|${it.part}`).digest('hex').slice(0, 12) };
}

/** Aggregate: the chord's callback over the map's results. */
export function aggregate(params: JsonValue, previous: JsonValue): JsonObject {
  const a = parseAccount(params);
  if (!Array.isArray(previous)) throw new InvalidTaskError('previous must be the array of part results');
  if (previous.length !== a.parts) throw new InvalidTaskError(`expected ${a.parts} part results, got ${previous.length}`);
  const parts = previous.map((r) => (r as { part?: unknown }).part);
  if (parts.some((p, i) => p !== i)) throw new InvalidTaskError('part results are not in part order');
  return { account: a.account, parts: previous.length, digest: createHash('sha256').update(previous.map((r) => (r as { checksum: string }).checksum).join('')).digest('hex').slice(0, 16) };
}

/** Audit: runs beside Aggregate on the same results. */
export function audit(previous: JsonValue): JsonObject {
  if (!Array.isArray(previous)) throw new InvalidTaskError('previous must be the array of part results');
  return { audited: previous.length };
}
