import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { InvalidTaskError, LockBusy } from '../lambdas/shared/errors';
import { createHash, randomBytes } from 'node:crypto';
import { acquireLock, leaseLock, lockKey, LockKeys, releaseLock } from '../lambdas/shared/locks';
import { LocalHmac, MacSigner } from '../lambdas/shared/record-mac';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';

/** The exclusive-key lock against a real DynamoDB engine (dynalite): conditional writes decide. */
let db: LocalDynamo;
const TABLE = 'Coordination';
let clock = new Date('2026-11-25T00:00:00Z');
const deps = () => ({ ddb: db.client, tableName: TABLE, now: () => clock });
/** The lock-key HMAC key (KMS in Lambda; the same HMAC-SHA-256 in memory here). */
const mac = new LocalHmac(randomBytes(32));

beforeAll(async () => {
  db = await startLocalDynamo();
  await db.createTable(TABLE);
});
afterAll(() => db.stop());

test('the key is per job and per value, and holds an HMAC, never the value (it may be personal)', async () => {
  const a = await lockKey('sync', { customer: { email: 'hanako@example.com' } }, 'customer.email', mac);
  expect(a).toMatch(/^lock#sync#[0-9a-f]{64}$/);
  expect(a).not.toContain('hanako');
  expect(await lockKey('other', { customer: { email: 'hanako@example.com' } }, 'customer.email', mac)).not.toBe(a);
  expect(await lockKey('sync', { customer: { email: 'taro@example.com' } }, 'customer.email', mac)).not.toBe(a);
  expect(await lockKey('sync', { customer: { email: 'hanako@example.com' } }, 'customer.email', mac)).toBe(a);
  await expect(lockKey('sync', { customer: {} }, 'customer.email', mac)).rejects.toThrow(InvalidTaskError);
  await expect(lockKey('sync', { id: { nested: 1 } }, 'id', mac)).rejects.toThrow(/must be a string, number or boolean/);
});

test('a dictionary of values does not reverse a lock key without the HMAC key', async () => {
  const emails = Array.from({ length: 200 }, (_, i) => `user${i}@example.com`);
  const stored = await lockKey('sync', { email: emails[137] }, 'email', mac);
  const hex = stored.split('#')[2];
  // The old scheme (unsalted SHA-256 of the value) and any other key find nothing.
  const unsalted = new Set(emails.map((e) => createHash('sha256').update(JSON.stringify(e)).digest('hex')));
  expect([...unsalted].some((h) => hex.startsWith(h.slice(0, 40)))).toBe(false);
  const otherKey = new LocalHmac(randomBytes(32));
  const guesses = await Promise.all(emails.map((e) => lockKey('sync', { email: e }, 'email', otherKey)));
  expect(guesses).not.toContain(stored);
  // With the key (what only the lock function and the capture may use) it is found: the control.
  const withKey = await Promise.all(emails.map((e) => lockKey('sync', { email: e }, 'email', mac)));
  expect(withKey.indexOf(stored)).toBe(137);
});

test('LockKeys asks the key once per value in a container (acquire and release of a task share it), and bounds its cache', async () => {
  let calls = 0;
  const counting: MacSigner = { generateMac: async (m) => (calls++, mac.generateMac(m)) };
  const keys = new LockKeys(counting, 2);
  const k1 = await keys.keyOf('sync', { id: 'v-1' }, 'id');
  expect(await keys.keyOf('sync', { id: 'v-1' }, 'id')).toBe(k1);
  expect(calls).toBe(1);
  await keys.keyOf('sync', { id: 'v-2' }, 'id');
  await keys.keyOf('sync', { id: 'v-3' }, 'id'); // evicts v-1
  expect(calls).toBe(3);
  expect(await keys.keyOf('sync', { id: 'v-1' }, 'id')).toBe(k1);
  expect(calls).toBe(4);
  // A number and its string are different values, as before (the value is JSON-typed).
  expect(await keys.keyOf('sync', { id: 1 }, 'id')).not.toBe(await keys.keyOf('sync', { id: '1' }, 'id'));
});

test('one owner at a time; the same owner may take it again; another waits with LockBusy', async () => {
  const key = await lockKey('sync', { id: 'a-1' }, 'id', mac);
  await acquireLock(deps(), key, 'exec-1', 600);
  await expect(acquireLock(deps(), key, 'exec-2', 600)).rejects.toBeInstanceOf(LockBusy);
  // A retried acquire of the holder (e.g. the Lambda answered late) is not blocked by itself.
  await acquireLock(deps(), key, 'exec-1', 600);
  const item = await db.client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: key } } }));
  expect(item.Item?.owner.S).toBe('exec-1');
});

test('a release by someone else leaves the lock; the owner releases it; then another takes it', async () => {
  const key = await lockKey('sync', { id: 'b-1' }, 'id', mac);
  await acquireLock(deps(), key, 'exec-1', 600);
  expect(await releaseLock(deps(), key, 'exec-2')).toBe(false);
  await expect(acquireLock(deps(), key, 'exec-2', 600)).rejects.toBeInstanceOf(LockBusy);
  expect(await releaseLock(deps(), key, 'exec-1')).toBe(true);
  expect(await releaseLock(deps(), key, 'exec-1')).toBe(false); // already released
  await acquireLock(deps(), key, 'exec-2', 600);
});

test('an expired lock is taken over (expiry is checked in the condition; TTL only collects garbage later)', async () => {
  const key = await lockKey('sync', { id: 'c-1' }, 'id', mac);
  await acquireLock(deps(), key, 'exec-1', 60);
  clock = new Date(clock.getTime() + 59_000);
  await expect(acquireLock(deps(), key, 'exec-2', 60)).rejects.toBeInstanceOf(LockBusy);
  clock = new Date(clock.getTime() + 2_000);
  await acquireLock(deps(), key, 'exec-2', 60);
  // The stale owner's late release must not free the new owner's lock.
  expect(await releaseLock(deps(), key, 'exec-1')).toBe(false);
  await expect(acquireLock(deps(), key, 'exec-3', 60)).rejects.toBeInstanceOf(LockBusy);
});

test("an ended execution's lock is kept until its step Lambdas may have run out: a replay waits (LockBusy), then takes it", async () => {
  const key = await lockKey('sync', { id: 'lease-1' }, 'id', mac);
  await acquireLock(deps(), key, 'exec-stopped', 7200);
  const endS = Math.floor(clock.getTime() / 1000);
  // Stopped now; its longest step may run 45 s more (StopExecution does not stop a running Lambda).
  expect(await leaseLock(deps(), key, 'exec-stopped', endS + 45)).toBe('leased');
  const item = await db.client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: key } }, ConsistentRead: true }));
  expect(item.Item?.expiresAt.N).toBe(String(endS + 45));
  await expect(acquireLock(deps(), key, 'exec-replay', 600)).rejects.toBeInstanceOf(LockBusy);
  const saved = clock;
  try {
    clock = new Date(saved.getTime() + 44_000);
    await expect(acquireLock(deps(), key, 'exec-replay', 600)).rejects.toBeInstanceOf(LockBusy);
    clock = new Date(saved.getTime() + 46_000);
    await acquireLock(deps(), key, 'exec-replay', 600);
  } finally {
    clock = saved;
  }
  // The stopped execution no longer owns it: a late lease of it changes nothing.
  expect(await leaseLock(deps(), key, 'exec-stopped', endS + 90)).toBe('notHeld');
});

test('a lease whose time has already passed releases the lock; a lease of a lock held by another owner is refused', async () => {
  const key = await lockKey('sync', { id: 'lease-2' }, 'id', mac);
  await acquireLock(deps(), key, 'exec-a', 600);
  const nowS = Math.floor(clock.getTime() / 1000);
  expect(await leaseLock(deps(), key, 'exec-b', nowS + 45)).toBe('notHeld');
  expect(await leaseLock(deps(), key, 'exec-a', nowS - 1)).toBe('released');
  await acquireLock(deps(), key, 'exec-c', 600);
});
