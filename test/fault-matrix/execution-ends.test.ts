/**
 * Fault matrix, executions that end outside the Catch: the shipped definitions run in
 * aws-local-stepfunctions through the Step Functions stand-in, their status changes matched by the
 * synthesized rule and delivered to the REAL status-change capture (asynchronously, with Lambda's
 * retries), which spools them for the real reprocess handler to replay (./world.ts).
 */
import { expectCanaryInside, expectNothingLost, expectTaskEnd } from './expect-end';
import { faultCase } from './matrix';
import { startWorld, World } from './world';
import { account, order } from './specs';

let world: World;
beforeAll(async () => {
  world = await startWorld();
}, 60_000);
afterAll(() => world?.close());

const recordsOf = (id: string) => world.workerRecords().filter((r) => r.task_id === id);
const lockOf = async (acct: string) => world.coordinationItem(await world.lockKeyOf('example-fanout', { account: acct }, 'account'));
/**
 * The lock of an execution that ended in a step is kept, not released: its step Lambda runs on to its
 * own timeout (StopExecution and the execution timeout do not stop it), so the lock expires at the
 * end + the job's longest step timeout + the cold-start margin (the capture's JOB_LOCK_LEASE). Then
 * that time passes (the world compresses it), and the replay can take the lock.
 */
async function expectLockKeptThenPass(acct: string, executionArn: string): Promise<void> {
  const lock = await lockOf(acct);
  const lease = (JSON.parse(world.functionEnv(world.functions.capture).JOB_LOCK_LEASE) as Record<string, number>)['example-fanout'];
  const stoppedS = Math.floor(world.sfn.executions.get(executionArn)!.stopDate!.getTime() / 1000);
  expect(lock).toMatchObject({ owner: executionArn, leasedAfterEnd: true });
  expect(Number(lock!.expiresAt) - stoppedS).toBeGreaterThanOrEqual(lease);
  expect(Number(lock!.expiresAt) - stoppedS).toBeLessThanOrEqual(lease + 1);
  expect(await world.passLockLeases()).toBe(1);
}

faultCase('execution-aborted', async () => {
  const t = await world.tick('example-fanout', [account('acct-stop')], { drain: false });
  const id = t.taskIds[0];
  // An operator stops the execution while part 2 of its map runs (StopExecution, as the console
  // does); that call's own end no longer matters.
  world.onStep({
    state: 'ProcessPart',
    task: id,
    attempt: 1,
    handle: async (c) => {
      if (c.payload.index !== 2) return c.real();
      await world.stop(c.executionArn, 'Operator', 'stuck part');
      throw new Error('the part never finished');
    },
  });
  await world.drainTicks();
  await world.settle();
  const [stopped] = world.executionsOf(id);
  expect(stopped.status).toBe('ABORTED');
  // The capture kept the stopped execution's lock (its part's Lambda may still run) and wrote its Aborted record.
  await expectLockKeptThenPass('acct-stop', stopped.executionArn);
  expect(recordsOf(id).map((r) => [r.result, r.failed_state])).toEqual([['Aborted', 'ProcessParts']]);
  await expectTaskEnd(world, id, {
    spooled: { error: 'ExecutionAborted', kind: 'ExecutionEnded', failedState: 'ProcessParts', replayed: (s) => expect(s.resumed).toBe(1) },
  });
  // Resumed at the map: ListParts ran once in all; the parts that had finished answered from their records.
  expect(world.calls('ListParts', id)).toBe(1);
  expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
});

faultCase('execution-timed-out', async () => {
  const t = await world.tick('example-fanout', [account('acct-slow', 3)], { drain: false });
  const id = t.taskIds[0];
  // The synthesized execution timeout is derived from the steps (hours); this execution gets 2 s,
  // and its Aggregate (inside the parallel group) does not answer before the execution has ended.
  expect(world.definition('example-fanout').TimeoutSeconds).toBeGreaterThan(3600);
  world.onExecution(id, 1, { definition: (d) => ({ ...d, TimeoutSeconds: 2 }) });
  world.onStep({
    state: 'Aggregate',
    task: id,
    attempt: 1,
    handle: async (c) => {
      // Bounded: if the execution never ended, this Lambda must not poll on into later tests.
      const giveUpAt = Date.now() + 60_000;
      while (world.sfn.executions.get(c.executionArn)?.status === 'RUNNING') {
        if (Date.now() > giveUpAt) throw new Error('the execution never ended');
        await new Promise((r) => setTimeout(r, 20));
      }
      return c.real();
    },
  });
  await world.drainTicks();
  await world.settle();
  expect(world.executionsOf(id)[0].status).toBe('TIMED_OUT');
  await expectLockKeptThenPass('acct-slow', world.executionsOf(id)[0].executionArn);
  expect(recordsOf(id).map((r) => [r.result, r.failed_state])).toEqual([['TimedOut', 'Summarize']]);
  await expectTaskEnd(world, id, { spooled: { error: 'ExecutionTimedOut', kind: 'ExecutionEnded', failedState: 'Summarize' } });
  // Resumed at the group: the map did not run again.
  expect(world.calls('ListParts', id)).toBe(1);
  expect(world.calls('ProcessPart', id)).toBe(3);
  // Aggregate's Lambda ran on after the timeout and recorded its result: the replay got it, not a second aggregate.
  expect([world.sideEffects.count(`${id}#Aggregate`), world.sideEffects.count(`${id}#Audit`)]).toEqual([1, 1]);
});

faultCase('uncatchable-error', async () => {
  const t = await world.tick('example-fanout', [account('acct-runtime', 3)], { drain: false });
  const id = t.taskIds[0];
  // A ListParts deployed without the step wrapper's items check returns no `parts`: the map's
  // ItemsPath points at nothing, a States.Runtime error no Catch takes.
  world.onStep({ state: 'ListParts', task: id, attempt: 1, handle: () => ({ nothing: true }) });
  await world.drainTicks();
  await world.settle();
  const [failed] = world.executionsOf(id);
  expect(failed).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
  expect(failed.cause?.startsWith('[spooled ')).toBe(false);
  await expectLockKeptThenPass('acct-runtime', failed.executionArn);
  // The step's own output was wrong, so the replay starts over (`from: start`), as the runbook says.
  const end = await expectTaskEnd(world, id, {
    spooled: { error: 'States.Runtime', kind: 'ExecutionEnded', failedState: 'ProcessParts', replay: { from: 'start' }, replayed: (s) => expect(s.resumed).toBe(0) },
  });
  expect((end.message?.body?.stepInput as Record<string, unknown>) ?? null).toEqual({ nothing: true });
  expect(world.calls('ListParts', id)).toBe(2);
});

faultCase('data-limit-exceeded', async () => {
  const t = await world.tick('example-api', [order('ord-huge')], { drain: false });
  const id = t.taskIds[0];
  // A Publish deployed without the step wrapper's output budget returns 300 KiB.
  world.onStep({ state: 'Publish', task: id, attempt: 1, handle: () => ({ report: 'x'.repeat(300 * 1024) }) });
  await world.drainTicks();
  await world.settle();
  expect(world.executionsOf(id)[0]).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
  await expectTaskEnd(world, id, {
    spooled: { error: 'States.DataLimitExceeded', kind: 'ExecutionEnded', failedState: 'Publish', replayed: (s) => expect(s.resumed).toBe(1) },
  });
  // Resumed at Publish: the order was sent to the API once.
  expect(world.api.accepted('ord-huge')).toBe(1);
  expect(recordsOf(id).map((r) => r.result)).toEqual(['Failure', 'Success']);
});

faultCase('replay-next-to-redrive', async () => {
  // The operator stops the execution while CallApi waits on the API (the call never completes).
  const t = await world.tick('example-api', [order('ord-redrive')], { drain: false });
  const id = t.taskIds[0];
  const removeStop = world.onStep({
    state: 'CallApi',
    task: id,
    attempt: 1,
    handle: async (c) => {
      await world.stop(c.executionArn, 'Operator', 'API looked stuck');
      throw new Error('the call never completed');
    },
  });
  await world.drainTicks();
  await world.settle();
  removeStop();
  const [execution] = world.executionsOf(id);
  expect(execution.status).toBe('ABORTED');
  const [message] = (await world.spool()).filter((m) => m.body?.taskId === id);
  expect(message.body).toMatchObject({ kind: 'ExecutionEnded', error: 'ExecutionAborted', failedState: 'CallApi' });

  // Someone redrives it from the console; a replay of the spool runs while it is running again.
  await world.redrive(execution.executionArn);
  const replay = await world.reprocess({ taskIds: [id] });
  expect(replay).toMatchObject({ alreadyHandled: 1, started: 0, invalid: 0, failed: 0 });
  expect((await world.spool()).filter((m) => m.body?.taskId === id)).toHaveLength(0);

  // The redriven run: aws-local-stepfunctions cannot redrive, so the engine enters the unsuccessful
  // state with its input, which is what a redrive does (AWS Step Functions developer guide,
  // "Redriving executions": it "continues from the unsuccessful step"), through the definition's
  // own resume route.
  const redriven = await world.runRedriven(execution.executionArn, { step: message.body!.failedState, input: message.body!.stepInput });
  expect(redriven).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
  await world.settle();
  const end = await expectTaskEnd(world, id, { succeeded: true });
  expect(end.executions.map((e) => e.name)).toEqual([execution.name]);
  expect(world.api.accepted('ord-redrive')).toBe(1);
});

test('after every case above: the lost-task query finds nothing, no execution name was created twice, no task succeeded twice', () => expectNothingLost(world));

test('after every case above: the params canary occurs in no line outside the lock (logs, the runtime\'s uncaught-error lines, traces, task failures)', () => expectCanaryInside(world));
