/**
 * The Step Functions stand-in's history, StopExecution and status changes, through the real
 * `@aws-sdk/client-sfn`, with executions run by the local engine (aws-local-stepfunctions).
 */
import { DescribeExecutionCommand, GetExecutionHistoryCommand, HistoryEvent, RedriveExecutionCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { AslDefinition } from '../local/asl';
import { createLocalRunner } from '../local/run-state-machine';
import { SfnStandin, StandinExecution, startSfnStandin, statusChangeEvent } from '../local/sfn-standin';

const SM = 'arn:aws:states:us-east-1:123456789012:stateMachine:Probe';
// A Pass, a Task, a Map of Tasks, and a Fail reached when the Task says so.
const definition: AslDefinition = {
  StartAt: 'Prep',
  States: {
    Prep: { Type: 'Pass', Parameters: { 'items.$': '$.items', 'fail.$': '$.fail' }, Next: 'Work' },
    Work: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { 'Payload.$': '$' }, ResultSelector: { 'items.$': '$.Payload.items', 'fail.$': '$.Payload.fail' }, Next: 'Check' },
    Check: { Type: 'Choice', Choices: [{ Variable: '$.fail', BooleanEquals: true, Next: 'Boom' }], Default: 'Each' },
    Each: {
      Type: 'Map',
      ItemsPath: '$.items',
      ItemProcessor: { StartAt: 'One', States: { One: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { 'Payload.$': '$' }, OutputPath: '$.Payload', End: true } } },
      End: true,
    },
    Boom: { Type: 'Fail', Error: 'Custom.Boom', Cause: 'asked to' },
  },
};

let standin: SfnStandin;
let sfn: SFNClient;
const changes: Array<{ arn: string; status: string }> = [];

beforeAll(async () => {
  standin = await startSfnStandin({ onStatusChange: (e) => void changes.push({ arn: e.executionArn, status: e.status }) });
  sfn = new SFNClient({ region: 'us-east-1', endpoint: standin.endpoint, credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
});
afterAll(async () => {
  sfn?.destroy();
  await standin?.stop();
});

let n = 0;
async function run(input: unknown, one: (item: unknown) => unknown = (x) => x): Promise<StandinExecution> {
  const e = standin.seed({ stateMachineArn: SM, name: `probe-${++n}`, input: JSON.stringify(input) });
  const runner = createLocalRunner({ definition });
  await standin.runLocally(e.executionArn, (hooks) =>
    runner({ input, stateMachineArn: SM, executionName: e.name, executionArn: e.executionArn, lambdas: { Work: (p) => p, One: (p) => one(p) }, ...hooks }),
  );
  return e;
}

async function historyOf(executionArn: string, opts: { reverseOrder?: boolean; includeExecutionData?: boolean } = {}): Promise<HistoryEvent[]> {
  const out: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 4, nextToken, ...opts }));
    out.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

const label = (e: HistoryEvent) => `${e.type}${e.stateEnteredEventDetails?.name ? ` ${e.stateEnteredEventDetails.name}` : ''}${e.stateExitedEventDetails?.name ? ` ${e.stateExitedEventDetails.name}` : ''}`;

test('a local run is recorded as Step Functions history events, paged in both orders', async () => {
  const e = await run({ items: [1, 2], fail: false });
  const events = await historyOf(e.executionArn);
  expect(events.map(label)).toEqual([
    'ExecutionStarted',
    'PassStateEntered Prep',
    'PassStateExited Prep',
    'TaskStateEntered Work',
    'TaskStateExited Work',
    'ChoiceStateEntered Check',
    'ChoiceStateExited Check',
    'MapStateEntered Each',
    ...events.slice(8, -2).map(label), // the iterations interleave
    'MapStateExited Each',
    'ExecutionSucceeded',
  ]);
  const nested = events.slice(8, -2).map(label).sort();
  expect(nested).toEqual(['MapIterationStarted', 'MapIterationStarted', 'MapIterationSucceeded', 'MapIterationSucceeded', 'TaskStateEntered One', 'TaskStateEntered One', 'TaskStateExited One', 'TaskStateExited One']);
  expect(events.map((x) => x.id)).toEqual(events.map((_, i) => i + 1));
  // Input and output as JSON text, as the API returns them.
  expect(JSON.parse(events[3].stateEnteredEventDetails!.input!)).toEqual({ items: [1, 2], fail: false });
  expect(JSON.parse(events[4].stateExitedEventDetails!.output!)).toEqual({ items: [1, 2], fail: false });
  expect((await historyOf(e.executionArn, { reverseOrder: true })).map((x) => x.id)).toEqual(events.map((x) => x.id).reverse());
  // Without execution data, the names stay and the data goes.
  const bare = await historyOf(e.executionArn, { includeExecutionData: false });
  expect(bare[3].stateEnteredEventDetails).toEqual({ name: 'Work', inputDetails: { truncated: false } });
});

test('a failed run: ExecutionFailed with the Fail state\'s error, and DescribeExecution returns it', async () => {
  const e = await run({ items: [], fail: true });
  const events = await historyOf(e.executionArn);
  expect(events.map(label).slice(-2)).toEqual(['FailStateEntered Boom', 'ExecutionFailed']);
  expect(events.at(-1)!.executionFailedEventDetails).toEqual({ error: 'Custom.Boom', cause: 'asked to' });
  const d = await sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }));
  expect(d).toMatchObject({ status: 'FAILED', error: 'Custom.Boom', cause: 'asked to' });
  expect(d.stopDate).toBeInstanceOf(Date);
  expect(changes.filter((c) => c.arn === e.executionArn).map((c) => c.status)).toEqual(['FAILED']);
});

test('StopExecution aborts the local run mid-state: ABORTED with its error and cause, nothing recorded after', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let arn = '';
  const stopping = (async () => {
    // Bounded: should the run fail before its map starts, this loop must not poll on past the test.
    const end = Date.now() + 30_000;
    while (!arn || !standin.executions.get(arn)?.history.some((h) => h.type === 'MapIterationStarted')) {
      if (Date.now() > end) throw new Error('the map never started');
      await new Promise((r) => setTimeout(r, 5));
    }
    await sfn.send(new StopExecutionCommand({ executionArn: arn, error: 'Ops', cause: 'stuck item' }));
    release();
  })();
  // Awaited after the run; should the run throw first, its rejection must not go unobserved.
  stopping.catch(() => undefined);
  const input = { items: [1], fail: false };
  const e = standin.seed({ stateMachineArn: SM, name: `probe-${++n}`, input: JSON.stringify(input) });
  arn = e.executionArn;
  const runner = createLocalRunner({ definition });
  await standin.runLocally(e.executionArn, async (hooks) =>
    runner({ input, stateMachineArn: SM, executionName: e.name, executionArn: e.executionArn, lambdas: { Work: (p) => p, One: async (p) => (await held, p) }, ...hooks }),
  );
  await stopping;
  expect(e.status).toBe('ABORTED');
  const events = await historyOf(e.executionArn);
  expect(events.at(-1)).toMatchObject({ type: 'ExecutionAborted', executionAbortedEventDetails: { error: 'Ops', cause: 'stuck item' } });
  // The item's Task finished after the stop (the engine cannot cancel it); its exit is not the execution's.
  expect(events.map(label)).not.toContain('TaskStateExited One');
  expect(events.filter((x) => x.type === 'ExecutionAborted')).toHaveLength(1);
  expect(await sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }))).toMatchObject({ status: 'ABORTED', error: 'Ops', cause: 'stuck item' });
  // The status change, as the capture's rule would receive it (CMK: no input, output, error, cause).
  const ev = statusChangeEvent(e);
  expect(ev).toMatchObject({ source: 'aws.states', 'detail-type': 'Step Functions Execution Status Change', resources: [e.executionArn], detail: { executionArn: e.executionArn, stateMachineArn: SM, status: 'ABORTED' } });
  expect(Object.keys(ev.detail).some((k) => ['input', 'output', 'error', 'cause'].includes(k))).toBe(false);
  // Stopping again changes nothing.
  await sfn.send(new StopExecutionCommand({ executionArn: e.executionArn }));
  expect(changes.filter((c) => c.arn === e.executionArn).map((c) => c.status)).toEqual(['ABORTED']);
});

test('a redrive: RUNNING again, ExecutionRedriven in the history, the error cleared, a status change', async () => {
  const e = await run({ items: [], fail: true });
  await sfn.send(new RedriveExecutionCommand({ executionArn: e.executionArn }));
  const d = await sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }));
  expect(d).toMatchObject({ status: 'RUNNING', redriveCount: 1 });
  expect(d.error).toBeUndefined();
  expect((await historyOf(e.executionArn)).at(-1)!.type).toBe('ExecutionRedriven');
  expect(changes.filter((c) => c.arn === e.executionArn).map((c) => c.status)).toEqual(['FAILED', 'RUNNING']);
});

test('unknown executions: ExecutionDoesNotExist from StopExecution and GetExecutionHistory', async () => {
  const arn = `${SM.replace(':stateMachine:', ':execution:')}:nope`;
  await expect(sfn.send(new StopExecutionCommand({ executionArn: arn }))).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
  await expect(sfn.send(new GetExecutionHistoryCommand({ executionArn: arn }))).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
});
