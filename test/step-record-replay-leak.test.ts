import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CanaryRecorder } from '../local/offline-day/canary';
import { startLocalDynamo } from '../local/dynamodb-local';
import { createStepHandler } from '../lambdas/shared/step';
import { dynamoStepIdempotency } from '../lambdas/shared/step-idempotency';

/**
 * Powertools' IdempotencyValidationError (the same step key called with other input) carries the
 * stored record as an enumerable `existingRecord`, whose `responseData` is the step's recorded
 * RESULT (may hold personal data). The Lambda runtime logs every enumerable property of an uncaught
 * error (`Invoke Error`), so the step handler must not let it out as is: run against a real
 * DynamoDB stand-in and the runtime's log line, the recorded result must not appear outside.
 */
const CANARY = 'LEAK-r3sult';
const task = { v: 1 as const, taskId: 'j-20260101T0000Z-k', job: 'j', key: 'k', params: {}, attempt: 1, scheduledTime: '2026-01-01T00:00:00.000Z', seal: 'k'.repeat(43) };

test('a step replayed with other input fails without the recorded result in its error, log line or trace', async () => {
  const dynamo = await startLocalDynamo();
  const dir = mkdtempSync(join(tmpdir(), 'step-replay-leak-'));
  try {
    await dynamo.createTable('StepResults');
    const idempotency = dynamoStepIdempotency({ tableName: 'StepResults', client: dynamo.client });
    const step = createStepHandler(() => ({ holder: CANARY }), { holds: null, dependency: null, stepName: 'Price', env: {}, idempotency });
    // The first call records a result that holds the canary (inside the lock: the table).
    expect(await step({ task, previous: { n: 1 } })).toEqual({ holder: CANARY });
    // Powertools itself keeps the record on its error (what the handler must not let out).
    const raw = await idempotency.run({ job: 'j', key: `${task.taskId}#Price`, input: { previous: { n: 2 }, index: null }, remainingMs: () => 10_000 }, async () => null).catch((e: unknown) => e);
    expect((raw as Error).name).toBe('IdempotencyValidationError');
    expect(JSON.stringify(raw)).toContain(CANARY);

    const rec = new CanaryRecorder(CANARY, dir);
    rec.start();
    let thrown: unknown;
    try {
      await rec.wrap('PriceStep', step as never)({ task, previous: { n: 2 } }, { awsRequestId: 'r-1' }).catch((e: unknown) => (thrown = e));
    } finally {
      rec.stop();
    }
    expect((thrown as Error).name).toBe('IdempotencyValidationError');
    const c = rec.finish({});
    expect(c.recorded.logs).toBeGreaterThan(0);
    expect(c.outsideTotal).toBe(0);
  } finally {
    await dynamo.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
