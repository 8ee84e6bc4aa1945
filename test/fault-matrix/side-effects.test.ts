/**
 * Fault matrix, side effects as users count them: a step's effect applied twice for one task, step
 * and map item / branch (the example steps report theirs, the scripted API counts the orders it
 * accepts per Idempotency-Key: ./world.ts, local/side-effects.ts). Every case here runs a step more
 * than once underneath (a replay resumed inside a map or a group, a redelivered invocation, a replay
 * overlapping the Lambda of a stopped execution) and asserts that each side effect was applied once,
 * because the step's completed result is recorded (lambdas/shared/step-idempotency.ts).
 *
 * `FAULT_MATRIX_STEP_RECORDS=off npx jest test/fault-matrix/side-effects.test.ts` runs the same
 * cases with the step wrapper without its records: they fail (docs/fault-matrix.md).
 */
import { PermanentError } from '../../lambdas/shared/errors';
import { expectNothingLost, expectTaskEnd } from './expect-end';
import { faultCase } from './matrix';
import { account, order } from './specs';
import { startWorld, World } from './world';

let world: World;
beforeAll(async () => {
  world = await startWorld();
}, 60_000);
afterAll(() => world?.close());

/** Waits until `ok()` holds (a concurrent call has reached a point), at most `ms`. */
async function until(ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
const applied = (taskId: string, step: string, index?: number) => world.sideEffects.count(index === undefined ? `${taskId}#${step}` : `${taskId}#${step}#${index}`);

faultCase('replay-resumed-at-map', async () => {
  // Four parts; part 2 fails on the task's first attempt (past its retries), then works.
  const t = await world.tick('example-fanout', [{ key: 'acct-map', params: { account: 'acct-map', parts: 4, failPart: 2, failAttempts: 1 } }]);
  const id = t.taskIds[0];
  await world.settle();
  expect([0, 1, 2, 3].map((i) => applied(id, 'ProcessPart', i))).toEqual([1, 1, 0, 1]);
  const partCallsBefore = world.calls('ProcessPart', id);
  expect(partCallsBefore).toBe(3 + 4); // three parts once, part 2 on each of its 4 attempts
  await expectTaskEnd(world, id, { spooled: { error: 'TransientError', failedState: 'ProcessParts', replayed: (s) => expect(s.resumed).toBe(1) } });
  // The replay resumed at the map: every part's Lambda was called again, but the parts that had
  // succeeded answered from their records; only part 2 was applied now. 4 applications for 4 parts.
  expect(world.calls('ProcessPart', id) - partCallsBefore).toBe(4);
  expect([0, 1, 2, 3].map((i) => applied(id, 'ProcessPart', i))).toEqual([1, 1, 1, 1]);
  expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
  expect([applied(id, 'Aggregate'), applied(id, 'Audit')]).toEqual([1, 1]);
});

faultCase('replay-resumed-at-group', async () => {
  const t = await world.tick('example-fanout', [account('acct-group', 3)], { drain: false });
  const id = t.taskIds[0];
  // Audit fails for good on the first attempt, once Aggregate (the other branch) has applied its result.
  world.onStep({
    state: 'Audit',
    task: id,
    attempt: 1,
    handle: async () => {
      await until(() => applied(id, 'Aggregate') === 1);
      throw new PermanentError('the audit store refused the entry');
    },
  });
  await world.drainTicks();
  await world.settle();
  await expectTaskEnd(world, id, { spooled: { error: 'PermanentError', failedState: 'Summarize', replayed: (s) => expect(s.resumed).toBe(1) } });
  // Resumed at the group: both branches' Lambdas ran again; Aggregate answered from its record.
  expect([world.calls('Aggregate', id), world.calls('Audit', id)]).toEqual([2, 2]);
  expect([applied(id, 'Aggregate'), applied(id, 'Audit')]).toEqual([1, 1]);
  expect(world.calls('ProcessPart', id)).toBe(3);
  expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
});

faultCase('step-redelivered', async () => {
  const t = await world.tick('example-fanout', [account('acct-twice', 3)], { drain: false });
  const id = t.taskIds[0];
  // Lambda delivers one invocation twice: part 1 twice at once (an async redelivery), part 2 again
  // after its first answer was lost (LambdaInvoke's retrier on a Lambda service error).
  world.onStep({
    state: 'ProcessPart',
    task: id,
    attempt: 1,
    handle: async (c) => {
      if (c.payload.index === 1) return (await Promise.all([c.real(), c.real()]))[1];
      if (c.payload.index === 2) {
        await c.real();
        return c.real();
      }
      return c.real();
    },
  });
  await world.drainTicks();
  await world.settle();
  await expectTaskEnd(world, id, { succeeded: true });
  expect([0, 1, 2].map((i) => applied(id, 'ProcessPart', i))).toEqual([1, 1, 1]);
  expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
});

faultCase('stopped-step-overlaps-replay', async () => {
  const key = 'ord-overlap';
  // The API takes 3 s to accept the order (under CallApi's 20 s timeout); the operator stops the
  // execution meanwhile. StopExecution does not stop the Lambda: it runs on and the order is accepted.
  world.api.script(key, [{ status: 200, afterMs: 3_000 }]);
  const t = await world.tick('example-api', [order(key)], { drain: false });
  const id = t.taskIds[0];
  let stillRunning: Promise<unknown> = Promise.resolve();
  world.onStep({
    state: 'CallApi',
    task: id,
    attempt: 1,
    handle: async (c) => {
      stillRunning = c.real().catch(() => undefined);
      await until(() => world.api.calls(key) === 1);
      await world.stop(c.executionArn, 'Operator', 'the API call looked stuck');
      return stillRunning;
    },
  });
  await world.drainTicks();
  await world.settle();
  expect(world.executionsOf(id).map((e) => e.status)).toEqual(['ABORTED']);
  await expectTaskEnd(world, id, {
    spooled: {
      error: 'ExecutionAborted',
      kind: 'ExecutionEnded',
      failedState: 'CallApi',
      // The replay starts while the stopped execution's CallApi is still waiting on the API.
      fix: async () => expect(world.api.accepted(key)).toBe(0),
      replayed: (s) => expect(s.resumed).toBe(1),
    },
  });
  await stillRunning;
  // The replay's CallApi found the first call in progress, waited for it and returned its result.
  expect(world.calls('CallApi', id)).toBe(2);
  expect(world.api.calls(key)).toBe(1);
  expect(world.api.accepted(key)).toBe(1);
  expect(applied(id, 'CallApi')).toBe(1);
  expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
});

test('after every case above: the lost-task query finds nothing, no execution name was created twice, no side effect was applied twice', () => expectNothingLost(world));
