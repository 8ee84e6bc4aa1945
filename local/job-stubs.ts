/**
 * Per-job stubs for offline runs (`npm start`, `npx scheduled-jobs local <job>`): a job may keep a
 * `stubs.ts` beside its producer (lambdas/jobs/<job>/stubs.ts) that exports `stubs`:
 * - `http`: msw request handlers (`http.get(url, resolver)` from 'msw'), served in-process with
 *   msw's `setupServer`, so a step's real `fetch` to its API is answered locally;
 * - `ssmParameters` / `secrets`: values for the SSM parameters and Secrets Manager secrets the job
 *   reads through lambdas/shared/secrets.ts (served by local/secrets-standin.ts);
 * - `environment`: variables set on every function of the job (producer and steps) for the run.
 * The file is read only by the offline machinery, never bundled into a Lambda (no handler imports
 * it). See docs/job-authoring.md.
 */
import { CfnElement } from 'aws-cdk-lib';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lambdaStepsOf, ResolvedAppConfig, ResolvedJob } from '../lib/config/types';
import type { SynthesizedApp } from './offline-day/app-model';
import { SecretsStandin, startSecretsStandin } from './secrets-standin';
import type { JobStubs } from './stubs-api';

export { defineStubs, TASKS_PER_TICK_ENV } from './stubs-api';
export type { JobStubs } from './stubs-api';

/** Where a job's stubs live: `stubs.ts` in its producer's folder. */
export function stubsFileOf(job: Pick<ResolvedJob, 'producer'>): string {
  return join(dirname(job.producer.entry), 'stubs.ts');
}

const KNOWN_KEYS = new Set(['http', 'ssmParameters', 'secrets', 'environment']);

/** Reads and checks one job's stubs file; null when the job has none. Problems name the file and the fix. */
export function loadJobStubs(projectRoot: string, job: Pick<ResolvedJob, 'name' | 'producer'>): JobStubs | null {
  const file = stubsFileOf(job);
  const path = join(projectRoot, file);
  if (!existsSync(path)) return null;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(path) as { stubs?: unknown; default?: unknown };
  const stubs = (mod.stubs ?? mod.default) as JobStubs | undefined;
  const bad = (why: string): Error => new Error(`${file} (stubs of job ${job.name}): ${why}`);
  if (!stubs || typeof stubs !== 'object') throw bad('export `stubs` (export const stubs = defineStubs({ ... }))');
  for (const k of Object.keys(stubs)) if (!KNOWN_KEYS.has(k)) throw bad(`unknown key "${k}"; use ${[...KNOWN_KEYS].join(', ')}`);
  if (stubs.http !== undefined && !Array.isArray(stubs.http)) throw bad('`http` must be an array of msw handlers');
  for (const k of ['ssmParameters', 'secrets', 'environment'] as const) {
    const v = stubs[k];
    if (v === undefined) continue;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`\`${k}\` must be an object of name -> string value`);
    for (const [name, value] of Object.entries(v)) if (typeof value !== 'string') throw bad(`\`${k}.${name}\` must be a string`);
  }
  for (const name of Object.keys(stubs.environment ?? {})) if (/^AWS_/i.test(name)) throw bad(`\`environment.${name}\`: AWS_* variables are the run's own (endpoints, credentials)`);
  return stubs;
}

/** What the stubs did in a run (in the offline report). */
export interface StubStats {
  /** Jobs whose stubs.ts was loaded. */
  readonly jobs: string[];
  /** HTTP calls answered by a stub, by `METHOD url`. */
  readonly httpCalls: Record<string, number>;
  /** HTTP calls no stub matched (they failed): a stub is missing. */
  readonly unhandledHttp: string[];
  /** Secret reads (SDK attempts included) by name and outcome, e.g. `ssm:/demo/token:ok`. */
  readonly secretReads: Record<string, number>;
}

/** The stubs of a run, started. */
export interface OfflineStubs {
  /** AWS_ENDPOINT_URL_* variables for the handlers' environment. */
  readonly endpoints: Record<string, string>;
  /** Variables the stubs set on one function (by logical id); empty for functions of no stubbed job. */
  environmentFor(functionId: string): Record<string, string>;
  stats(): StubStats;
  stop(): Promise<void>;
}

function logicalId(model: SynthesizedApp, construct: { node: { defaultChild?: unknown } }): string {
  return model.stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** The job of each of the job's own functions (producer and steps), by logical id. */
export function jobFunctions(model: SynthesizedApp, config: ResolvedAppConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const job of config.jobs) {
    const producer = model.stack.producers.get(job.name);
    if (producer) out.set(logicalId(model, producer.function), job.name);
    const wf = model.stack.workflows.get(job.name);
    for (const step of lambdaStepsOf(job)) {
      const fn = wf?.stepFunctions.get(step.name);
      if (fn) out.set(logicalId(model, fn), job.name);
    }
  }
  return out;
}

const isLocal = (url: URL): boolean => ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(url.hostname) || url.hostname.endsWith('.localhost');

/**
 * Loads every job's stubs, starts the secrets stand-in (always: a secret read must never reach AWS)
 * and, when some job stubs HTTP, msw in this process. Calls to 127.0.0.1 (the stand-ins, the
 * example's fake API) pass through; any other unmatched call fails.
 */
export async function startJobStubs(o: { projectRoot: string; config: ResolvedAppConfig; model: SynthesizedApp; region: string }): Promise<OfflineStubs> {
  const byJob = new Map<string, JobStubs>();
  for (const job of o.config.jobs) {
    const s = loadJobStubs(o.projectRoot, job);
    if (s) byJob.set(job.name, s);
  }
  const merge = (kind: 'ssmParameters' | 'secrets'): Record<string, string> => {
    const out: Record<string, string> = {};
    const from: Record<string, string> = {};
    for (const [job, s] of byJob) {
      for (const [name, value] of Object.entries(s[kind] ?? {})) {
        if (name in out && out[name] !== value) throw new Error(`jobs ${from[name]} and ${job} stub ${kind} "${name}" with different values: it is one ${kind === 'secrets' ? 'secret' : 'parameter'}; give it one value`);
        out[name] = value;
        from[name] = job;
      }
    }
    return out;
  };
  const functions = [...o.config.jobs.flatMap((j) => [j.producer, ...lambdaStepsOf(j)])];
  const secretsEndpoint: SecretsStandin = await startSecretsStandin({
    region: o.region,
    ssmParameters: merge('ssmParameters'),
    secrets: merge('secrets'),
    granted: {
      ssmParameters: [...new Set(functions.flatMap((f) => f.secrets.ssmParameters))],
      secretsManager: [...new Set(functions.flatMap((f) => f.secrets.secretsManager))],
    },
  });

  const httpCalls: Record<string, number> = {};
  const unhandledHttp: string[] = [];
  const handlers = [...byJob.values()].flatMap((s) => s.http ?? []);
  let closeMsw: (() => void) | undefined;
  if (handlers.length > 0) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { setupServer } = require('msw/node') as typeof import('msw/node');
    const server = setupServer(...handlers);
    server.events.on('request:match', ({ request }) => {
      const k = `${request.method} ${request.url}`;
      httpCalls[k] = (httpCalls[k] ?? 0) + 1;
    });
    server.listen({
      onUnhandledRequest: (request, print) => {
        if (isLocal(new URL(request.url))) return;
        unhandledHttp.push(`${request.method} ${request.url}`);
        print.error();
      },
    });
    closeMsw = () => server.close();
  }

  const jobOf = jobFunctions(o.model, o.config);
  return {
    endpoints: { AWS_ENDPOINT_URL_SSM: secretsEndpoint.endpoint, AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsEndpoint.endpoint },
    environmentFor: (functionId) => {
      const job = jobOf.get(functionId);
      return job ? { ...(byJob.get(job)?.environment ?? {}) } : {};
    },
    stats: () => ({ jobs: [...byJob.keys()], httpCalls: { ...httpCalls }, unhandledHttp: [...unhandledHttp], secretReads: secretsEndpoint.reads.reduce<Record<string, number>>((o, r) => ({ ...o, [r]: (o[r] ?? 0) + 1 }), {}) }),
    stop: async () => {
      closeMsw?.();
      await secretsEndpoint.stop();
    },
  };
}
