import { join } from 'node:path';
import { TASKS_PER_TICK_ENV } from '../job-stubs';
import { FaultPlan, producerBroken } from '../fake-external-api';
import { functionEnvironment, RefResolver, SynthesizedApp } from './app-model';
import type { CanaryRecorder } from './canary';
import type { LocalHandler } from './executions';
import type { HandlerEnv } from '../handler-env';
import { functionMemoryMiB, functionTimeoutSeconds, lambdaContext } from './lambda-context';

/**
 * The offline Lambda service for the run's handlers: loads each function's REAL handler module once
 * (a warm container: module-scope SDK clients are built once, as in Lambda), gives it exactly its own
 * function's environment (the template's, plus the run's documented overrides), and invokes it with
 * a Lambda context whose remaining time counts down from the function's configured timeout
 * (lambda-context.ts).
 */
export interface HandlerHost {
  /** The function's environment as the run gives it (template + overrides), without NODE_OPTIONS. */
  envFor(logicalId: string): Record<string, string>;
  /** Points process.env at the function's environment (handlers share this process). */
  useEnvOf(logicalId: string): void;
  /**
   * Runs `fn` (and all it awaits or schedules) with the function's environment as its `process.env`,
   * isolated from other handlers running at the same time (local/handler-env.ts), as each Lambda
   * function has its own process.
   */
  inEnvOf<T>(logicalId: string, fn: () => T): T;
  /** The loaded handler (loaded on first use, with its environment in place for module-scope code). */
  loadHandler(logicalId: string): LocalHandler;
  /** Invokes the function with its environment and a fresh Lambda context. */
  invoke(logicalId: string, event: unknown): Promise<unknown>;
  /** The function's handler as an engine's Lambda task calls it: its own Lambda context on every call. */
  withContext(logicalId: string, handler: LocalHandler): LocalHandler;
}

export interface HandlerHostOptions {
  readonly projectRoot: string;
  readonly model: SynthesizedApp;
  readonly ref: RefResolver;
  /** The process environment every handler sees below its own (endpoints, fake credentials). */
  readonly baseEnv: NodeJS.ProcessEnv;
  /** The jobs' stubs' variables for a function (local/job-stubs.ts). */
  readonly stubEnv: (logicalId: string) => Record<string, string>;
  readonly canary: CanaryRecorder | null;
  /** The fake external API's URL (replaces EXAMPLE_API_URL). */
  readonly apiUrl: string;
  readonly tasksPerTick?: number;
  readonly plan: FaultPlan;
  readonly timeZone: string;
  readonly now: () => Date;
  /** Producer function ids by job. */
  readonly producerOf: ReadonlyMap<string, string>;
  /** The example jobs the fault plan is about. */
  readonly apiJob: string;
  readonly fanoutJob: string;
  /**
   * Per-invocation environments (local/handler-env.ts). Without it every invocation swaps the one
   * `process.env`, and a handler reading its environment after an await may see another function's.
   */
  readonly handlerEnv?: HandlerEnv;
}

/** Builds the host; nothing is loaded until first used. */
export function createHandlerHost(o: HandlerHostOptions): HandlerHost {
  const producers = new Set(o.producerOf.values());
  // Local overrides of settings (documented in docs/offline-day.md): the fake API instead of the
  // real one, the run's tasks per tick, the fan-out job's failing part.
  const overrides = (id: string, env: Record<string, string>): Record<string, string> => {
    const out = { ...env, ...o.stubEnv(id), ...(o.canary ? o.canary.functionEnv() : {}) };
    if ('EXAMPLE_API_URL' in out) out.EXAMPLE_API_URL = o.apiUrl;
    if (producers.has(id) && o.tasksPerTick !== undefined) out[TASKS_PER_TICK_ENV] = String(o.tasksPerTick);
    if (id === o.producerOf.get(o.apiJob) && o.tasksPerTick !== undefined) out.EXAMPLE_TASKS_PER_TICK = String(o.tasksPerTick);
    if (id === o.producerOf.get(o.fanoutJob) && o.plan.fanoutFailEvery > 0) {
      out.FANOUT_FAIL_EVERY = String(o.plan.fanoutFailEvery);
      out.FANOUT_FAIL_ATTEMPTS = String(o.plan.fanoutFailAttempts);
    }
    return out;
  };
  const envOf = new Map<string, Record<string, string>>();
  const envFor = (logicalId: string): Record<string, string> => {
    let env = envOf.get(logicalId);
    if (!env) {
      env = overrides(logicalId, functionEnvironment(o.model, logicalId, o.ref));
      delete env.NODE_OPTIONS;
      envOf.set(logicalId, env);
    }
    return env;
  };
  /** Settings that change during the day: the API producer's broken period (until its fix is "deployed"). */
  const dynamicEnv = (logicalId: string): Record<string, string> =>
    logicalId === o.producerOf.get(o.apiJob) && producerBroken(o.plan, o.now(), o.timeZone) ? { EXAMPLE_FAIL_PRODUCER: 'true' } : {};
  const wantedEnv = (logicalId: string): NodeJS.ProcessEnv => ({ ...o.baseEnv, ...envFor(logicalId), ...dynamicEnv(logicalId) });
  const useEnvOf = (logicalId: string): void => {
    const wanted = wantedEnv(logicalId);
    for (const k of Object.keys(process.env)) if (!(k in wanted)) delete process.env[k];
    Object.assign(process.env, wanted);
  };
  const inEnvOf = <T>(logicalId: string, fn: () => T): T => {
    if (o.handlerEnv) return o.handlerEnv.run(wantedEnv(logicalId), fn);
    useEnvOf(logicalId);
    return fn();
  };
  const handlers = new Map<string, LocalHandler>();
  const loadHandler = (logicalId: string): LocalHandler => {
    let h = handlers.get(logicalId);
    if (!h) {
      const entry = o.model.entries.get(logicalId);
      if (!entry) throw new Error(`No handler entry known for function ${logicalId}`);
      // Module-scope code (clients, requireEnv) reads the environment at import: set it first.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = inEnvOf(logicalId, () => require(join(o.projectRoot, entry)) as { handler?: LocalHandler });
      if (typeof mod.handler !== 'function') throw new Error(`${entry} does not export a handler`);
      h = o.canary ? o.canary.wrap(logicalId, mod.handler) : mod.handler;
      handlers.set(logicalId, h);
    }
    return h;
  };
  const contextOf = (logicalId: string, requestId?: string) =>
    lambdaContext({
      logicalId,
      functionArn: o.ref(logicalId, 'AWS::Lambda::Function', 'Arn'),
      timeoutSeconds: functionTimeoutSeconds(o.model, logicalId),
      memoryMiB: functionMemoryMiB(o.model, logicalId),
      requestId,
    });
  return {
    envFor,
    useEnvOf,
    inEnvOf,
    loadHandler,
    /** Calls a handler that reads its environment at call time, with its own environment. */
    async invoke(logicalId, event) {
      const handler = loadHandler(logicalId);
      return inEnvOf(logicalId, () => handler(event, contextOf(logicalId)));
    },
    withContext(logicalId, handler) {
      return (event, context) => inEnvOf(logicalId, () => handler(event, contextOf(logicalId, (context as { awsRequestId?: string } | undefined)?.awsRequestId)));
    },
  };
}

/**
 * Points this process at the local services for every handler: only the standard endpoint
 * variables (`AWS_ENDPOINT_URL_<SERVICE>`), fake credentials, the region and Powertools' quiet
 * settings. Returns the resulting environment: each handler sees exactly its own function's
 * environment on top of it (as in its own Lambda), so variables of another function (e.g. a map
 * contract) cannot leak into it.
 */
export function installBaseEnvironment(o: { readonly region: string; readonly endpoints: Record<string, string>; readonly verbose: boolean; readonly extra: Record<string, string> }): NodeJS.ProcessEnv {
  Object.assign(process.env, {
    ...o.endpoints,
    AWS_REGION: o.region,
    AWS_DEFAULT_REGION: o.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SESSION_TOKEN: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: o.verbose ? 'INFO' : 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    ...o.extra,
  });
  delete process.env.AWS_PROFILE;
  return { ...process.env };
}
