import { markParamFree } from './safe-error';
import type { z } from 'zod';
import type { TaskEnvelope } from './envelope';
import { errorName, InvalidParamsError } from './errors';
import { isPlainJson, JsonValue } from './json';

/**
 * A job's params module (`lambdas/jobs/<job>/params.ts`, named by the job's `params.schema` in the
 * config). One declared schema gives the producer's check, the steps' TypeScript type and the path of
 * a problem. The same module is loaded by synth (lib/config/job-contracts.ts), bundled into the
 * producer and into the steps, so the three cannot drift.
 *
 * Schema evolution: a task spooled today may be replayed two weeks and several deploys later. Bump
 * `version` when a change would refuse older params, and give `migrate`, which turns params of any
 * earlier version into the current shape. The producer stamps each task with the version it checked
 * (`paramsVersion` in the envelope); a step given older params migrates them before it parses.
 */
export interface ParamsModule<S extends z.ZodType = z.ZodType> {
  /** The params schema (zod 4). Params must stay plain JSON: no transforms to Date or Map. */
  readonly schema: S;
  /** Schema version, an integer >= 1. @default 1 */
  readonly version?: number;
  /**
   * Turns params written under `fromVersion` (1 .. version-1) into the current shape. Pure and
   * deterministic: it runs in every step of a replayed task. Throw to refuse (the task is
   * quarantined as InvalidParamsError; the thrown message is not kept: it may hold a value).
   */
  readonly migrate?: (params: JsonValue, fromVersion: number) => JsonValue;
}

/** The parsed params type of a params module. */
export type ParamsOf<M extends ParamsModule> = z.output<M['schema']>;

/** What {@link checkParams} found. */
export type ParamsCheck<T> = { readonly ok: true; readonly value: T; readonly migratedFrom: number | null } | { readonly ok: false; readonly problems: string[] };

/** Most problems listed in one message (the state's error budget is small). */
const MAX_PROBLEMS = 5;
const IDENTIFIER = /^[A-Za-z_$][\w$]{0,63}$/;

interface DefLike {
  readonly _zod?: { readonly def?: Record<string, unknown> };
}
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);
function defOf(s: DefLike | undefined): Record<string, unknown> | undefined {
  let cur = s;
  for (let i = 0; i < 20 && cur?._zod?.def; i++) {
    const def: Record<string, unknown> = cur._zod.def;
    if (WRAPPERS.has(def.type as string)) cur = def.innerType as DefLike;
    else if (def.type === 'pipe') cur = def.in as DefLike;
    else return def;
  }
  return undefined;
}

/**
 * `params.items[3].id`: a path that names fields and indexes only. A key is spelled out only when
 * the schema declares it (a field of a `z.object`): a record's key comes from the data (it may be an
 * email address or a name) and is shown as `[?]`, as is every key below a shape the walk cannot follow
 * (a union, say). Without a schema, identifier-like keys are shown.
 */
export function paramsPath(path: ReadonlyArray<PropertyKey>, schema?: unknown): string {
  let out = 'params';
  let cur: DefLike | undefined = schema as DefLike | undefined;
  const known = schema !== undefined;
  for (const p of path) {
    const def = known ? defOf(cur) : undefined;
    if (typeof p === 'number') {
      out += `[${p}]`;
      cur = def?.type === 'array' ? (def.element as DefLike) : def?.type === 'tuple' ? ((def.items as DefLike[] | undefined)?.[p] as DefLike) : undefined;
    } else if (typeof p === 'string' && IDENTIFIER.test(p) && (!known || (def?.type === 'object' && p in ((def.shape as object) ?? {})))) {
      out += `.${p}`;
      cur = known ? ((def!.shape as Record<string, DefLike>)[p] as DefLike) : undefined;
    } else {
      out += '[?]';
      cur = def?.type === 'record' ? (def.valueType as DefLike) : undefined;
    }
  }
  return out;
}

interface IssueLike {
  readonly code: string;
  readonly path: ReadonlyArray<PropertyKey>;
  readonly expected?: unknown;
  readonly origin?: unknown;
  readonly minimum?: unknown;
  readonly maximum?: unknown;
  readonly format?: unknown;
  readonly keys?: ReadonlyArray<string>;
}

/**
 * What is wrong, built from the issue's code and the schema's expectation only. zod's own messages
 * are not used: a custom refinement's message is the author's text, and some codes echo input.
 */
function describeIssue(i: IssueLike, schema?: unknown): string {
  const where = paramsPath(i.path, schema);
  switch (i.code) {
    case 'invalid_type':
      return `${where}: expected ${String(i.expected)}`;
    case 'too_small':
      return `${where}: too small (${String(i.origin ?? 'value')} minimum ${String(i.minimum)})`;
    case 'too_big':
      return `${where}: too big (${String(i.origin ?? 'value')} maximum ${String(i.maximum)})`;
    case 'invalid_format':
      return `${where}: not a valid ${String(i.format ?? 'format')}`;
    case 'invalid_value':
      return `${where}: not one of the allowed values`;
    case 'unrecognized_keys':
      // The keys come from the data: only their number is told.
      return `${where}: ${(i.keys ?? []).length} field(s) the schema does not declare`;
    case 'invalid_union':
      return `${where}: matches none of the allowed shapes`;
    case 'not_multiple_of':
      return `${where}: not a multiple of the required step`;
    default:
      return `${where}: fails the schema's check (${i.code})`;
  }
}

/** The problems of a failed parse, as paths (at most five, then a count). */
export function describeIssues(issues: ReadonlyArray<IssueLike>, schema?: unknown): string[] {
  const out = issues.slice(0, MAX_PROBLEMS).map((i) => describeIssue(i, schema));
  if (issues.length > MAX_PROBLEMS) out.push(`and ${issues.length - MAX_PROBLEMS} more problem(s)`);
  return out;
}

/** The module's version (1 when it declares none). */
export function versionOf(m: ParamsModule): number {
  return m.version ?? 1;
}

/**
 * Checks (and, for older params, migrates) `params` written under `fromVersion`. Never throws,
 * never puts a value into a problem.
 */
export function checkParams<S extends z.ZodType>(m: ParamsModule<S>, params: JsonValue, fromVersion = 1): ParamsCheck<z.output<S>> {
  const current = versionOf(m);
  let input: JsonValue = params;
  let migratedFrom: number | null = null;
  if (fromVersion > current) {
    // A rollback: params of a newer schema. Parsed as they are; a field the old code does not know passes unless the schema is strict.
  } else if (fromVersion < current && m.migrate) {
    try {
      input = m.migrate(params, fromVersion);
      migratedFrom = fromVersion;
    } catch (e) {
      return { ok: false, problems: [`migrate from params version ${fromVersion} to ${current} refused them (${errorName(e)})`] };
    }
    if (!isPlainJson(input)) return { ok: false, problems: [`migrate from params version ${fromVersion} returned something that is not plain JSON`] };
  }
  const r = m.schema.safeParse(input);
  if (!r.success) {
    const prefix = migratedFrom !== null ? [`(after migrate from version ${migratedFrom})`] : fromVersion < current ? [`(version ${fromVersion} params, no migrate declared)`] : [];
    return { ok: false, problems: [...describeIssues(r.error.issues as unknown as IssueLike[], m.schema), ...prefix] };
  }
  return { ok: true, value: r.data as z.output<S>, migratedFrom };
}

/**
 * The task's params, parsed by the job's schema (migrated first when the producer checked them under
 * an earlier version). Throws InvalidParamsError naming the paths, never a value.
 */
export function taskParams<S extends z.ZodType>(m: ParamsModule<S>, task: Pick<TaskEnvelope, 'params' | 'paramsVersion'>): z.output<S> {
  const r = checkParams(m, task.params, task.paramsVersion ?? 1);
  // Paths of declared fields and what was expected, never a value (checkParams): the message may leave the lock.
  if (!r.ok) throw markParamFree(new InvalidParamsError(r.problems));
  return r.value;
}

/**
 * Checks a loaded module's shape (synth and the producer call it): `schema` a zod schema,
 * `version` an integer >= 1, `migrate` a function. Returns problems (empty when usable).
 */
export function paramsModuleProblems(m: unknown): string[] {
  const problems: string[] = [];
  const o = (m ?? {}) as Record<string, unknown>;
  const schema = o.schema as { safeParse?: unknown } | undefined;
  if (!schema || typeof schema.safeParse !== 'function') problems.push('must export `schema`, a zod schema (e.g. `export const schema = z.object({ orderId: z.string() })`)');
  if (o.version !== undefined && !(Number.isInteger(o.version) && (o.version as number) >= 1)) problems.push(`\`version\` must be an integer >= 1, got ${JSON.stringify(o.version)}`);
  if (o.migrate !== undefined && typeof o.migrate !== 'function') problems.push('`migrate` must be a function (params, fromVersion) => params');
  return problems;
}
