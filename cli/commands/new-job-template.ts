/**
 * The files `npx scheduled-jobs new-job <name>` writes: a job that passes `npm test` as generated
 * (a producer, two steps, a zod params schema, typed errors, offline stubs, a test) and its entry for
 * bin/config.ts, which names the params and errors modules (the contracts synth checks).
 * Generated code imports the platform by explicit relative paths (no barrel), as the examples do.
 */

/** `invoice-reminder` -> `InvoiceReminder` (class names of the job's errors). */
export function pascalCase(name: string): string {
  return name
    .split('-')
    .filter((p) => p !== '')
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
}

/** The names a job's files and config use. */
export interface JobNames {
  readonly job: string;
  readonly pascal: string;
  readonly dir: string;
  readonly upstreamError: string;
  readonly invalidError: string;
}

export function jobNames(job: string): JobNames {
  const pascal = pascalCase(job);
  return { job, pascal, dir: `lambdas/jobs/${job}`, upstreamError: `${pascal}UpstreamUnavailableError`, invalidError: `${pascal}InvalidItemError` };
}

/** One file to write: path relative to the project root, and its text. */
export interface GeneratedFile {
  readonly path: string;
  readonly text: string;
}

/** The job's source files and its test. */
export function jobFiles(n: JobNames): GeneratedFile[] {
  return [
    {
      path: `${n.dir}/params.ts`,
      text: `import { z } from 'zod';

/**
 * The params of one ${n.job} task, named by the job's \`params.schema\` in bin/config.ts (synth loads it).
 * The producer checks each task's params against it (a task that fails is quarantined with the path of
 * the problem, never its value) and the steps get them parsed and typed. Keep them plain JSON (no
 * transforms to Date or Map). See docs/workflow.md, "Params with a schema".
 */
export const schema = z.object({
  itemId: z.string().min(1),
});

/** A task's params as the producer makes them and the steps receive them. */
export type ItemParams = z.output<typeof schema>;

/**
 * Bump it, and export \`migrate(params, fromVersion)\`, when a change would refuse params already
 * spooled: a task may be replayed days and deploys later (docs/workflow.md).
 */
export const version = 1;
`,
    },
    {
      path: `${n.dir}/errors.ts`,
      text: `import { PermanentError, TransientError } from '../../shared/errors';

/**
 * The errors of job ${n.job}, named by the job's \`errors\` in bin/config.ts. An error's class name is what
 * the state machine's Retry matches: list the retryable ones in the step's \`retry.retryableErrors\`
 * (synth refuses a name this module does not export). Params that fail params.ts are the platform's
 * InvalidParamsError, not one of these. Messages must not quote params (they go to logs and the
 * spool's attributes).
 */

/** The system Deliver calls did not answer, answered 5xx or throttled: retryable. */
export class ${n.upstreamError} extends TransientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The item cannot be processed as it is (the system refused it, or Deliver got no Prepare output for it): retrying cannot help, the task waits in the spool for a person. */
export class ${n.invalidError} extends PermanentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
`,
    },
    {
      path: `${n.dir}/logic.ts`,
      text: `import type { TaskSpec } from '../../producer/runtime';
import type { JsonValue } from '../../shared/json';
import { ${n.invalidError}, ${n.upstreamError} } from './errors';
import type { ItemParams } from './params';

/**
 * The logic of job ${n.job}, pure and testable (the handlers beside it are thin). Replace the
 * bodies with your job's work; keep the shapes plain JSON.
 */

/** What Prepare returns and Deliver receives as \`previous\`. */
export interface PreparedItem {
  readonly itemId: string;
  readonly preparedFor: string;
}

/** The tasks of one tick: one per item. Keys are unique within the tick and hold no personal data. */
export function produceItems(count: number): TaskSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const params: ItemParams = { itemId: \`item-\${i + 1}\` };
    return { key: params.itemId, params };
  });
}

/** Step Prepare: \`params\` arrive checked by params.ts. */
export function prepareItem(params: ItemParams, scheduledTime: string): PreparedItem {
  return { itemId: params.itemId, preparedFor: scheduledTime };
}

/** Where Deliver sends an item: your API or queue. Pass \`signal\` on; make it idempotent (key: the task id). */
export type Send = (item: PreparedItem, idempotencyKey: string, signal: AbortSignal) => Promise<void>;

/** Step Deliver: sends what Prepare made for this task; a failure of the call becomes the retryable typed error. */
export async function deliverItem(params: ItemParams, previous: JsonValue, taskId: string, send: Send, signal: AbortSignal): Promise<{ itemId: string; delivered: true }> {
  const item = previous as Partial<PreparedItem> | null;
  if (!item || typeof item !== 'object' || item.itemId !== params.itemId || typeof item.preparedFor !== 'string') {
    throw new ${n.invalidError}('previous: expected the output of Prepare for this task');
  }
  try {
    await send({ itemId: item.itemId, preparedFor: item.preparedFor }, taskId, signal);
  } catch (e) {
    if (e instanceof ${n.invalidError}) throw e;
    throw new ${n.upstreamError}('the delivery call failed', { cause: e });
  }
  return { itemId: params.itemId, delivered: true };
}
`,
    },
    {
      path: `${n.dir}/producer.ts`,
      text: `import { createProducerHandler } from '../../producer/runtime';
import { intEnv } from '../../shared/env';
import { produceItems } from './logic';
import * as params from './params';

/**
 * Producer of job ${n.job}: TASKS_PER_TICK tasks per tick (default 3; \`npx scheduled-jobs local ${n.job} --tasks N\`
 * sets it). The context also has \`scheduledTime\` (the tick) and \`timeZone\`, for work that depends on the date.
 * \`{ params }\`: each task's params are checked against params.ts (the module the config names); a task
 * that fails is quarantined, the others run.
 */
export const handler = createProducerHandler(() => produceItems(intEnv('TASKS_PER_TICK', 3)), { params });
`,
    },
    {
      path: `${n.dir}/prepare.ts`,
      text: `import { createParamsStepHandler } from '../../shared/params-step';
import { prepareItem } from './logic';
import * as itemParams from './params';

// \`params\` is the task's params checked and typed by params.ts (migrated first when a replay brings older ones).
export const handler = createParamsStepHandler(itemParams, ({ params, task }) => ({ ...prepareItem(params, task.scheduledTime) }));
`,
    },
    {
      path: `${n.dir}/deliver.ts`,
      text: `import { createParamsStepHandler } from '../../shared/params-step';
import { deliverItem, Send } from './logic';
import * as itemParams from './params';

/** Replace with the real call (e.g. \`fetch(url, { signal, headers: { 'idempotency-key': key } })\`); offline, stubs.ts answers it. */
const send: Send = async () => undefined;

export const handler = createParamsStepHandler(itemParams, ({ params, task, previous, signal }) => deliverItem(params, previous, task.taskId, send, signal));
`,
    },
    {
      path: `${n.dir}/stubs.ts`,
      text: `import { defineStubs } from '../../../local/stubs-api';

/**
 * What job ${n.job} meets in offline runs (\`npm start\`, \`npx scheduled-jobs local ${n.job}\`); never
 * deployed. See docs/job-authoring.md. For example:
 *   import { http, HttpResponse } from 'msw';
 *   http: [http.post('https://api.example.com/v1/items', () => HttpResponse.json({ ok: true }))],
 *   ssmParameters: { '/${n.job}/api-token': 'local-token' },   // also list it in the config's secrets
 *   secrets: { '${n.job}/credentials': '{"user":"local"}' },
 *   environment: { ITEMS_API_URL: 'https://api.example.com/v1/items' },
 */
export const stubs = defineStubs({
  http: [],
  ssmParameters: {},
  secrets: {},
  environment: {},
});
`,
    },
    {
      path: `test/jobs/${n.job}.test.ts`,
      text: `import { handler as deliver } from '../../${n.dir}/deliver';
import { ${n.invalidError}, ${n.upstreamError} } from '../../${n.dir}/errors';
import { deliverItem, produceItems } from '../../${n.dir}/logic';
import * as params from '../../${n.dir}/params';
import { handler as prepare } from '../../${n.dir}/prepare';
import { TaskSpec, validateSpecs } from '../../lambdas/producer/logic';

/** Job ${n.job}: its producer's tasks pass the platform's checks and its schema, its steps chain, its errors keep their names. */
const tick = new Date('2026-11-25T00:00:00Z');
const tasks = (specs: TaskSpec[]) => validateSpecs(specs, '${n.job}', tick, params);
const signal = new AbortController().signal;

test('the producer makes one task per item and the platform accepts each (unique key, params that pass params.ts)', () => {
  const { accepted, rejected } = tasks(produceItems(3));
  expect(rejected).toEqual([]);
  expect(accepted.map((t) => t.key)).toEqual(['item-1', 'item-2', 'item-3']);
  expect(accepted.map((t) => t.paramsVersion)).toEqual([params.version, params.version, params.version]);
});

test('params that fail params.ts: the producer quarantines the task, a step fails with InvalidParamsError; the path is told, never the value', async () => {
  const { accepted, rejected } = tasks([{ key: 'bad', params: { itemId: 4242 } }, ...produceItems(1)]);
  expect(accepted.map((t) => t.key)).toEqual(['item-1']);
  expect(rejected.map((r) => [r.envelope.key, r.error])).toEqual([['bad', 'InvalidParams']]);
  expect(rejected[0].reason).toContain('params.itemId: expected string');
  expect(rejected[0].reason).not.toContain('4242');
  // A replayed or hand-edited task reaches a step with params the schema refuses: never retried (not in retryableErrors).
  const err = await prepare({ task: { ...accepted[0], params: { itemId: '' } }, previous: null }).catch((e: unknown) => e);
  expect(err).toMatchObject({ name: 'InvalidParamsError', message: expect.stringContaining('params.itemId: too small') });
});

test('Prepare then Deliver, through the platform\\'s step handler, each given the previous step\\'s output', async () => {
  const [task] = tasks(produceItems(1)).accepted;
  const prepared = await prepare({ task, previous: null });
  expect(prepared).toEqual({ itemId: 'item-1', preparedFor: task.scheduledTime });
  expect(await deliver({ task, previous: prepared })).toEqual({ itemId: 'item-1', delivered: true });
});

test('Deliver without Prepare\\'s output for this task fails with the job\\'s permanent error, by name (the retry contract)', async () => {
  const [task] = tasks(produceItems(1)).accepted;
  await expect(deliver({ task, previous: { itemId: 'item-2', preparedFor: task.scheduledTime } })).rejects.toMatchObject({ name: '${n.invalidError}' });
  await expect(deliver({ task, previous: null })).rejects.toMatchObject({ name: '${n.invalidError}' });
});

test('a failed delivery is the retryable error, with the cause kept and no params in the message', async () => {
  const item = { itemId: 'item-1' };
  const prepared = { itemId: 'item-1', preparedFor: 'x' };
  const err = await deliverItem(item, prepared, 'task-1', async () => { throw new Error('503'); }, signal).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(${n.upstreamError});
  expect((err as Error).name).toBe('${n.upstreamError}');
  expect((err as Error).cause).toEqual(new Error('503'));
  expect((err as Error).message).not.toContain('item-1');
  await expect(deliverItem(item, prepared, 'task-1', async () => { throw new ${n.invalidError}('rejected'); }, signal)).rejects.toBeInstanceOf(${n.invalidError});
});
`,
    },
  ];
}

/** The job's entry for `jobs` of bin/config.ts, as config data (validated before anything is written). */
export function configEntryValue(n: JobNames) {
  return {
    name: n.job,
    description: `${n.job}: what it does and for whom (scaffolded by new-job).`,
    schedule: 'cron(0 * * * ? *)',
    params: { schema: `${n.dir}/params.ts` },
    errors: `${n.dir}/errors.ts`,
    producer: { entry: `${n.dir}/producer.ts` },
    steps: [
      { name: 'Prepare', entry: `${n.dir}/prepare.ts`, timeoutSeconds: 30, retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] } },
      { name: 'Deliver', entry: `${n.dir}/deliver.ts`, timeoutSeconds: 30, retry: { maxAttempts: 3, intervalSeconds: 2, backoffRate: 2, retryableErrors: [n.upstreamError] } },
    ],
  };
}

/** A value as a one-line TypeScript literal: `{ name: 'x', steps: [1, 2] }` (single quotes, bare keys). */
export function tsLiteral(v: unknown): string {
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tsLiteral).join(', ')}]`;
  if (v && typeof v === 'object') {
    const parts = Object.entries(v).map(([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : tsLiteral(k)}: ${tsLiteral(x)}`);
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  throw new Error(`cannot write ${String(v)} as config`);
}

/** The entry as text for bin/config.ts, each element indented by `indent` (the same data as configEntryValue). */
export function configEntry(n: JobNames, indent: string): string {
  const lines = [`${indent}{`];
  for (const [k, v] of Object.entries(configEntryValue(n))) {
    if (k === 'schedule') lines.push(`${indent}  // Every hour in the app time zone; deploys to every stage (optIn: true to choose stages).`);
    if (k === 'params') {
      // Left out on purpose: a lock per key is a choice of the job's author, not a default (docs/workflow.md, "Exclusive keys").
      lines.push(`${indent}  // exclusiveBy: 'itemId', // two tasks with the same params.itemId never run at once (a field of params.ts)`);
    }
    if (Array.isArray(v)) {
      lines.push(`${indent}  ${k}: [`, ...v.map((x) => `${indent}    ${tsLiteral(x)},`), `${indent}  ],`);
    } else lines.push(`${indent}  ${k}: ${tsLiteral(v)},`);
  }
  lines.push(`${indent}},`);
  return lines.join('\n');
}
