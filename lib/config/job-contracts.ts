import { join } from 'node:path';
import * as platformErrors from '../../lambdas/shared/errors';
import { paramsModuleProblems, versionOf, ParamsModule } from '../../lambdas/shared/params';
import { JobConfig, LambdaStepConfig, ResolvedParamsSchema, StepConfig } from './types';

/**
 * The checks of a job against its own code, run at synth: the params schema module (`exclusiveBy`
 * must name one of its fields), the errors module (every `retryableErrors` name must be an error
 * the job declares or the platform's) and the job's time zone. Called from validate.ts; problems
 * are collected with the others, each naming the field path and, for a typo, the nearest name.
 */

/** Loads a module by its path relative to the project root (synth: require; tests inject one). */
export type ModuleLoader = (relativePath: string) => unknown;

/** The project root as seen from this file (lib/config/ -> ../..): where config paths are relative to. */
export const defaultModuleLoader: ModuleLoader = (p) => require(join(__dirname, '..', '..', p));

/**
 * Error names of Step Functions and Lambda that a step's Retry may name (AWS Step Functions developer
 * guide, "Handling errors in Step Functions workflows", error names; AWS Lambda API reference, Invoke
 * errors, as Step Functions reports them with the `Lambda.` prefix). Timeouts, catch-alls and throttles
 * are refused by validate.ts's NEVER_RETRYABLE before this list is consulted.
 */
export const SERVICE_RETRYABLE_ERRORS: ReadonlyArray<string> = [
  'States.Permissions',
  'States.ResultPathMatchFailure',
  'States.ParameterPathFailure',
  'States.IntrinsicFailure',
  'States.BranchFailed',
  'States.NoChoiceMatched',
  'States.ExceedToleratedFailureThreshold',
  'States.ItemReaderFailed',
  'States.ResultWriterFailed',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.Unknown',
];

/** Names an errors module declares: its exported Error subclasses (class and instance name) and its `errorNames` list. */
export function declaredErrorNames(mod: unknown): string[] {
  const names = new Set<string>();
  for (const [exportName, v] of Object.entries((mod ?? {}) as Record<string, unknown>)) {
    if (typeof v === 'function' && v.prototype instanceof Error) {
      names.add(v.name);
      // A class may set another `name` than its own (the Lambda errorType is the instance's name).
      try {
        const instance = new (v as new (...args: unknown[]) => Error)('synth');
        if (typeof instance.name === 'string' && instance.name !== 'Error') names.add(instance.name);
      } catch {
        // A constructor that needs other arguments: its class name stands.
      }
    } else if (exportName === 'errorNames' && Array.isArray(v)) {
      // Names thrown by libraries the job calls (e.g. the AWS SDK's 'ThrottlingException').
      for (const n of v) if (typeof n === 'string') names.add(n);
    }
  }
  return [...names];
}

/** The platform's names: lambdas/shared/errors.ts's Error subclasses, then Step Functions' and Lambda's. */
export const PLATFORM_ERROR_NAMES: ReadonlyArray<string> = [...declaredErrorNames(platformErrors).filter((n) => n !== 'TaskError'), ...SERVICE_RETRYABLE_ERRORS];

/** Edit distance (Levenshtein), case-insensitive: how far a typo is from a name. */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) cur.push(Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1)));
    prev = cur;
  }
  return prev[y.length];
}

/** The nearest of `candidates` to `name` when it is close enough to be a typo, else null. */
export function nearMiss(name: string, candidates: ReadonlyArray<string>): string | null {
  let best: string | null = null;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(name.length / 4)) ? best : null;
}

interface ZodLike {
  readonly _zod?: { readonly def?: Record<string, unknown> };
}

/** Wrappers that do not change which fields an object has. */
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

function unwrap(s: ZodLike): ZodLike {
  let cur = s;
  for (let i = 0; i < 20; i++) {
    const def = cur?._zod?.def;
    if (!def) return cur;
    if (WRAPPERS.has(def.type as string)) cur = def.innerType as ZodLike;
    else if (def.type === 'pipe') cur = def.in as ZodLike;
    else return cur;
  }
  return cur;
}

/**
 * Every field path of an object schema, nested objects included (`customer`, `customer.email`), or
 * null when the params are not an object schema. Read from zod 4's definition (`_zod.def`).
 */
export function schemaFieldPaths(schema: unknown): string[] | null {
  const root = unwrap(schema as ZodLike);
  if (root?._zod?.def?.type !== 'object') return null;
  const out: string[] = [];
  const walk = (s: ZodLike, prefix: string): void => {
    const shape = (s._zod?.def?.shape ?? {}) as Record<string, ZodLike>;
    for (const [k, v] of Object.entries(shape)) {
      const path = prefix ? `${prefix}.${k}` : k;
      out.push(path);
      const inner = unwrap(v);
      if (inner?._zod?.def?.type === 'object') walk(inner, path);
    }
  };
  walk(root, '');
  return out;
}

/** Every Lambda step of a job's raw config with its field path (for messages). */
function lambdaStepsWithPaths(where: string, steps: ReadonlyArray<StepConfig> | undefined): Array<{ where: string; step: LambdaStepConfig }> {
  const out: Array<{ where: string; step: LambdaStepConfig }> = [];
  const label = (s: StepConfig | undefined, w: string): string => (s && typeof s.name === 'string' ? `${w} (${s.name})` : w);
  (Array.isArray(steps) ? steps : []).forEach((s, i) => {
    const w = label(s, `${where}[${i}]`);
    if (s && typeof s === 'object' && 'parallel' in s) {
      const branches: ReadonlyArray<ReadonlyArray<LambdaStepConfig>> = Array.isArray(s.parallel) ? s.parallel : [];
      branches.forEach((branch, b) =>
        (Array.isArray(branch) ? (branch as ReadonlyArray<LambdaStepConfig>) : []).forEach((x, k) => out.push({ where: label(x, `${w}.parallel[${b}][${k}]`), step: x })),
      );
    } else if (s && typeof s === 'object' && 'map' in s) {
      const chain: ReadonlyArray<LambdaStepConfig> = Array.isArray(s.map?.steps) ? s.map.steps : [];
      chain.forEach((x, k) => out.push({ where: label(x, `${w}.map.steps[${k}]`), step: x }));
    } else if (s) out.push({ where: w, step: s as LambdaStepConfig });
  });
  return out;
}

/** What the contract checks add to a resolved job. */
export interface JobContracts {
  readonly timeZone: string;
  readonly params: ResolvedParamsSchema | null;
  readonly errors: string | null;
}

/** Options of {@link checkJobContracts}. */
export interface JobContractOptions {
  readonly loadModule?: ModuleLoader;
  readonly fileExists?: (relativePath: string) => boolean;
  /** The app's time zone (the job's default). */
  readonly appTimeZone: string;
  readonly isValidTimeZone: (tz: unknown) => boolean;
  /** Names validate.ts already refuses (timeouts, catch-alls...): not reported twice. */
  readonly alreadyRefused?: (name: string) => boolean;
}

function load(where: string, path: unknown, problems: string[], o: JobContractOptions, example: string): { ok: true; mod: unknown } | { ok: false } {
  if (typeof path !== 'string' || !/\.(ts|js|mjs)$/.test(path)) {
    problems.push(`${where} must be a module path relative to the project root, e.g. "${example}"`);
    return { ok: false };
  }
  if (o.fileExists && !o.fileExists(path)) {
    problems.push(`${where}: file "${path}" does not exist`);
    return { ok: false };
  }
  try {
    return { ok: true, mod: (o.loadModule ?? defaultModuleLoader)(path) };
  } catch (e) {
    problems.push(`${where}: "${path}" could not be loaded at synth (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); it must import nothing that needs AWS or the Lambda environment`);
    return { ok: false };
  }
}

/**
 * Checks a job's `timeZone`, `params.schema`, `errors`, `exclusiveBy` against the schema and every
 * step's `retryableErrors` against the declared names. Pushes problems; returns what the resolved job holds.
 */
export function checkJobContracts(where: string, j: JobConfig, problems: string[], o: JobContractOptions): JobContracts {
  let timeZone = o.appTimeZone;
  if (j.timeZone !== undefined) {
    if (o.isValidTimeZone(j.timeZone)) timeZone = j.timeZone;
    else problems.push(`${where}.timeZone must be an IANA time zone such as "Europe/Berlin" or "UTC", got ${JSON.stringify(j.timeZone)} (or leave it out for the app's ${o.appTimeZone})`);
  }

  // ---- params schema, and exclusiveBy against its fields
  let params: ResolvedParamsSchema | null = null;
  let fields: string[] | null = null;
  if (j.params !== undefined) {
    const w = `${where}.params.schema`;
    const loaded = load(w, j.params?.schema, problems, o, `lambdas/jobs/${j.name ?? '<job>'}/params.ts`);
    if (loaded.ok) {
      const shapeProblems = paramsModuleProblems(loaded.mod);
      for (const p of shapeProblems) problems.push(`${w}: "${j.params.schema}" ${p}`);
      if (shapeProblems.length === 0) {
        const m = loaded.mod as ParamsModule;
        params = { schema: j.params.schema, version: versionOf(m) };
        fields = schemaFieldPaths(m.schema);
      }
    }
  }
  if (typeof j.exclusiveBy === 'string' && params !== null) {
    if (fields === null) {
      problems.push(`${where}.exclusiveBy: "${j.exclusiveBy}" cannot be checked: the params schema of ${params.schema} is not an object (z.object({...})); exclusiveBy names a field of it`);
    } else if (!fields.includes(j.exclusiveBy)) {
      const hint = nearMiss(j.exclusiveBy, fields);
      problems.push(
        `${where}.exclusiveBy: "${j.exclusiveBy}" is not a field of the params schema (${params.schema})${hint ? `; did you mean "${hint}"?` : ''} Fields: ${fields.join(', ') || 'none'}`,
      );
    }
  }

  // ---- errors module, and every retryableErrors name
  let errors: string | null = null;
  let declared: string[] = [];
  if (j.errors !== undefined) {
    const loaded = load(`${where}.errors`, j.errors, problems, o, `lambdas/jobs/${j.name ?? '<job>'}/errors.ts`);
    if (loaded.ok) {
      errors = j.errors;
      declared = declaredErrorNames(loaded.mod);
      if (declared.length === 0) problems.push(`${where}.errors: "${j.errors}" exports no Error subclass (export class MyError extends TransientError {...}) and no errorNames list`);
    }
  }
  const known = new Set([...declared, ...PLATFORM_ERROR_NAMES]);
  const candidates = [...known];
  for (const { where: sw, step } of lambdaStepsWithPaths(`${where}.steps`, j.steps)) {
    const names = step?.retry?.retryableErrors;
    if (!Array.isArray(names)) continue;
    names.forEach((name, i) => {
      if (typeof name !== 'string' || known.has(name) || o.alreadyRefused?.(name) || !/^[A-Za-z][\w.]*$/.test(name)) return;
      const hint = nearMiss(name, candidates);
      const fix = j.errors === undefined ? `declare the job's errors module (errors: 'lambdas/jobs/${j.name ?? '<job>'}/errors.ts') exporting it` : `export it from ${j.errors}`;
      problems.push(
        `${sw}.retry.retryableErrors[${i}]: "${name}" is not an error this job declares nor a platform error, so the step would never retry it${hint ? `; did you mean "${hint}"?` : ''} (or ${fix})`,
      );
    });
  }
  return { timeZone, params, errors };
}
