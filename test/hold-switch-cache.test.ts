/**
 * The hold switch a step reads (lambdas/shared/holds.ts dynamoHoldSwitch) through the real
 * Powertools DynamoDBProvider on dynalite: "not held" is cached for maxAge, "held" never outlives
 * the switch. Found by the fault matrix (dependency-on-hold): with "held" cached too, the documented
 * recovery (unhold, then replay) spooled the replayed tasks again as DependencyOnHold for up to 5 s.
 */
import { DynamoDBProvider } from '@aws-lambda-powertools/parameters/dynamodb';
import { writeSwitch } from '../cli/holds';
import { dynamoHoldSwitch, HOLD_VALUE_ATTR, TABLE_KEY_ATTR } from '../lambdas/shared/holds';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';

const TABLE = 'Coordination';
let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startLocalDynamo('us-east-1');
  await dynamo.createTable(TABLE);
});
afterAll(() => dynamo?.stop());

/** The switch as the operator CLI's `hold` / `unhold` write it. */
const hold = (d: string) => writeSwitch(dynamo.client, TABLE, d, true, { by: 'oncall', reason: null, now: new Date() });
const unhold = (d: string) => writeSwitch(dynamo.client, TABLE, d, false, { by: 'oncall', reason: null, now: new Date() });
const reader = () => dynamoHoldSwitch(TABLE, 5, new DynamoDBProvider({ tableName: TABLE, keyAttr: TABLE_KEY_ATTR, valueAttr: HOLD_VALUE_ATTR, awsSdkV3Client: dynamo.client }));
const reads = () => dynamo.requests.byTarget.GetItem ?? 0;

test('unhold is seen at once by a container that read "held" a moment ago', async () => {
  const held = reader();
  await hold('api-a');
  expect(await held('api-a')).toBe(true);
  await unhold('api-a');
  expect(await held('api-a')).toBe(false);
});

test('"not held" is served from the cache for maxAge: one read per container, and a new hold reaches it within maxAge', async () => {
  await unhold('api-b');
  const released = reader();
  const before = reads();
  expect(await released('api-b')).toBe(false);
  expect(await released('api-b')).toBe(false);
  expect(reads() - before).toBe(1);
  await hold('api-b');
  expect(await released('api-b')).toBe(false);
});

test('a dependency never held (no switch item at all) costs one read per container per maxAge, not one per step call', async () => {
  const never = reader();
  const before = reads();
  for (let i = 0; i < 5; i++) expect(await never('api-never-held')).toBe(false);
  expect(reads() - before).toBe(1);
});
