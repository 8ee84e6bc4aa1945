/**
 * Resume at the failed step (issue 11), run in the local engine: the SHIPPED app synthesized
 * (the test fixture config, every job), the example-api definition run by aws-local-stepfunctions with the
 * job's real step handlers (Fetch and Publish as deployed; CallApi's real logic over HTTP against a
 * local server), the spool message the definition itself sends, and the replay input reprocess
 * builds from it with the environment its construct writes into the same template.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { readEnv, ReprocessEnv } from '../lambdas/reprocess/env';
import { classify, ReceivedMessage, ReplayPlan } from '../lambdas/reprocess/message';
import { parsePayload, ReprocessPayload } from '../lambdas/reprocess/payload';
import { produceOrders } from '../lambdas/jobs/example-api/logic';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { executionNameFor, taskIdFor } from '../lambdas/shared/names';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { aslFromTemplate, CfnTemplate, PLACEHOLDER, placeholderRef, resolveIntrinsics, ResolvedStateMachine } from '../local/asl';
import { LocalLambda, runLocal } from '../local/run-state-machine';

const JOB = 'example-api';
let machine: ResolvedStateMachine;
let env: ReprocessEnv;
let server: Server;
/** 'down': the API answers 503 (retryable, until CallApi's retries are spent); 'up': 200. */
let api: 'down' | 'up' = 'down';
const apiBodies: unknown[] = [];
let stepHandlers: { Fetch: LocalLambda; CallApi: LocalLambda; Publish: LocalLambda };

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      apiBodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      if (api === 'down') res.writeHead(503).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ confirmation: `c-${apiBodies.length}` }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // The step handlers read these at import, as in Lambda.
  process.env.EXAMPLE_API_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  const [fetchStep, callApiStep, publishStep] = await Promise.all([
    import('../lambdas/jobs/example-api/fetch'),
    import('../lambdas/jobs/example-api/call-api'),
    import('../lambdas/jobs/example-api/publish'),
  ]);
  stepHandlers = { Fetch: fetchStep.handler as LocalLambda, CallApi: callApiStep.handler as LocalLambda, Publish: publishStep.handler as LocalLambda };

  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'ResumeTest', { config: resolveConfig(fixtureConfig, { allJobs: true }), projectRoot: resolve(__dirname, '..') });
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as CfnTemplate;
  machine = aslFromTemplate(template, { job: JOB });
  // The reprocess Lambda's environment as deployed (state machine ARNs resolved as in the definition's run).
  const fnId = stack.getLogicalId(stack.reprocess.function.node.defaultChild as never);
  const vars = resolveIntrinsics((template.Resources[fnId].Properties as { Environment: { Variables: unknown } }).Environment.Variables, template.Resources, placeholderRef(PLACEHOLDER), PLACEHOLDER);
  env = readEnv(vars as NodeJS.ProcessEnv);
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

/** One execution of the example-api definition with the real step handlers; records what ran. */
async function execute(input: TaskEnvelope, name: string) {
  const calls: Record<string, Array<{ task: TaskEnvelope; previous: unknown }>> = { Fetch: [], CallApi: [], Publish: [] };
  const outputs: Record<string, unknown[]> = { Fetch: [], CallApi: [], Publish: [] };
  const entered: string[] = [];
  const spooled: Array<{ MessageBody: SpoolMessage; MessageAttributes: Record<string, { StringValue: string }> }> = [];
  const step = (s: 'Fetch' | 'CallApi' | 'Publish'): LocalLambda => async (payload, context) => {
    calls[s].push(payload as { task: TaskEnvelope; previous: unknown });
    const out = await stepHandlers[s](payload, context);
    outputs[s].push(out);
    return out;
  };
  const record = async () => ({});
  const result = await runLocal({
    definition: machine.definition,
    input,
    executionName: name,
    stateMachineArn: machine.arn,
    lambdas: { Fetch: step('Fetch'), CallApi: step('CallApi'), Publish: step('Publish'), RecordSuccess: record, RecordFailure: record, RecordSpoolUnavailable: record },
    tasks: { SpoolFailure: (p) => (spooled.push(p as never), { MessageId: `msg-${name}` }) },
    onEvent: (e) => {
      if (e.type === 'StateEntered' && e.state && e.index === undefined) entered.push(e.state.name);
    },
  });
  return { result, calls, outputs, entered, spooled };
}

/** The spool message as SQS hands it to reprocess: the body and attributes the definition sent. */
function received(s: { MessageBody: SpoolMessage; MessageAttributes: Record<string, { StringValue: string }> }): ReceivedMessage {
  return {
    MessageId: 'm-1',
    ReceiptHandle: 'r-1',
    Body: JSON.stringify(s.MessageBody),
    Attributes: { SentTimestamp: String(Date.now()) },
    MessageAttributes: Object.fromEntries(Object.entries(s.MessageAttributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v.StringValue }])),
  };
}

function replayOf(message: ReceivedMessage, payload: ReprocessPayload = {}, jobs = env.jobs): ReplayPlan {
  const plan = classify(message, parsePayload(payload, 10, Date.now()), { jobs, maxReplays: env.maxReplays }, Date.now());
  if (plan.action !== 'replay') throw new Error(`expected a replay, got ${JSON.stringify(plan)}`);
  return plan;
}

/** A scheduled task of the example job, failing at CallApi (step 2 of 3) while the API is down. */
async function failedAtCallApi(key: number) {
  const tick = new Date('2026-11-25T03:05:00Z');
  const spec = produceOrders(tick, key)[key - 1];
  const task: TaskEnvelope = { v: 1, taskId: taskIdFor(JOB, tick, spec.key), job: JOB, key: spec.key, params: spec.params, attempt: 1, scheduledTime: tick.toISOString() };
  api = 'down';
  const first = await execute(task, executionNameFor(task.taskId, 1));
  expect(first.result.status).toBe('FAILED');
  expect(first.result.error).toBe('ExternalApiUnavailableError');
  expect(first.calls.Fetch).toHaveLength(1);
  expect(first.calls.Publish).toHaveLength(0);
  expect(first.spooled).toHaveLength(1);
  return { task, first, message: received(first.spooled[0]) };
}

test('a task failing at step 2 of 3, resumed, runs steps 2 and 3 only, with step 1\'s output as step 2\'s input', async () => {
  const { task, first, message } = await failedAtCallApi(1);
  const fetched = first.outputs.Fetch[0];
  expect(first.spooled[0].MessageBody).toMatchObject({ kind: 'ExecutionFailed', failedState: 'CallApi', stepInput: fetched, input: task });

  const plan = replayOf(message);
  // The definition's own spool message passes every forged-replay check, and the replay resumes.
  expect(plan).toMatchObject({ stateMachineArn: machine.arn, name: executionNameFor(task.taskId, 2), resumeAt: 'CallApi', fallback: null, dependencies: ['orders-api'] });
  expect(plan.input).toEqual({ ...task, attempt: 2, resume: { step: 'CallApi', input: fetched } });

  api = 'up';
  const apiCallsBefore = apiBodies.length;
  const second = await execute(plan.input, plan.name);
  expect(second.result.status).toBe('SUCCEEDED');
  expect(second.calls.Fetch).toHaveLength(0);
  expect(second.calls.CallApi).toHaveLength(1);
  expect(second.calls.Publish).toHaveLength(1);
  expect(second.entered.filter((s) => ['Fetch', 'CallApi', 'Publish'].includes(s))).toEqual(['CallApi', 'Publish']);
  expect(second.entered).toContain('CallApi-Resume');
  // Step 2 gets step 1's output (from the first execution) as `previous`; step 3 gets step 2's.
  expect(second.calls.CallApi[0].previous).toEqual(fetched);
  expect(second.calls.Publish[0].previous).toEqual(second.outputs.CallApi[0]);
  expect(second.outputs.Publish[0]).toMatchObject({ orderId: (task.params as { orderId: string }).orderId, published: true });
  // The API got the task's params once, on the resumed run.
  expect(apiBodies.slice(apiCallsBefore)).toEqual([task.params]);
});

test('from "start": the same message runs every step again, under the same name', async () => {
  const { task, message } = await failedAtCallApi(2);
  const plan = replayOf(message, { from: 'start' });
  expect(plan).toMatchObject({ name: executionNameFor(task.taskId, 2), resumeAt: null });
  expect(plan.input).toEqual({ ...task, attempt: 2, rerunFrom: 2 });
  api = 'up';
  const second = await execute(plan.input, plan.name);
  expect(second.result.status).toBe('SUCCEEDED');
  expect(second.entered.filter((s) => ['Fetch', 'CallApi', 'Publish'].includes(s))).toEqual(['Fetch', 'CallApi', 'Publish']);
});

test('a failed step that a deploy renamed is not started silently: the plan names it; from "start" runs it from the first step, complete', async () => {
  const { message } = await failedAtCallApi(3);
  const renamed = new Map(env.jobs);
  renamed.set(JOB, { ...env.jobs.get(JOB)!, steps: ['Fetch', 'CallOrdersApi', 'Publish'] });
  const held = replayOf(message, {}, renamed);
  expect(held).toMatchObject({ resumeAt: null, fallback: null, unknownResumeStep: 'CallApi' });
  const plan = replayOf(message, { from: 'start' }, renamed);
  expect(plan).toMatchObject({ resumeAt: null, fallback: null });
  expect(plan.unknownResumeStep).toBeUndefined();
  api = 'up';
  const second = await execute(plan.input, plan.name);
  expect(second.result.status).toBe('SUCCEEDED');
  expect(second.calls.Fetch).toHaveLength(1);
});
