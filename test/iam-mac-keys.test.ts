import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AppFunction } from '../lib/app-function';
import { IamModel, Principal } from './support/iam-harness';
import { synthApp } from './support/synth-app';

/**
 * Who may make and check the MACs of parameter-log records and the HMACs of lock keys, evaluated by
 * the IAM policy engine against the synthesized identity and key policies together: only the
 * record writers may GenerateMac with the record key, only the lost-task monitor may VerifyMac with
 * it, only the lock holders may GenerateMac with the lock key, and nobody may VerifyMac with that
 * one. An administrator's own rights (AdministratorAccess, kms:*) do not reach past the key
 * policies, nor does a role named like a writer.
 */
const { stack, template } = synthApp();
const m = new IamModel(stack, template);
const ACC = m.account;
const recordKey = m.value(stack.paramLog.macKey.key.keyArn);
const lockKeyMac = stack.coordination.lockKeyMac;
const lockKey = lockKeyMac ? m.value(lockKeyMac.key.keyArn) : '';
const ADMINISTRATOR_ACCESS = [{ Effect: 'Allow', Action: '*', Resource: '*' }];
const admin = m.outsideRole(`arn:aws:iam::${ACC}:role/Admin`, ADMINISTRATOR_ACCESS, 'account administrator (AdministratorAccess)');
const stranger = m.outsideRole(`arn:aws:iam::${ACC}:role/Stranger`, [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }], 'stranger with kms:*');

const allFunctions = stack.node.findAll().filter((c): c is AppFunction => c instanceof AppFunction);
const roleOf = (fn: lambda.Function): Principal => m.role(fn.role!);
const recordFn = [...stack.workflows.values()][0].recordFunction;
const lockFn = stack.node.tryFindChild('Lock') as lambda.Function | undefined;
/** The record writers: every function that puts records on a delivery stream. */
const writers = new Set<lambda.Function>([...[...stack.producers.values()].map((p) => p.function), stack.tickStarter.function, recordFn, stack.executionCapture.function, stack.reconciler.function, stack.reprocess.function]);
const monitorFn = stack.investigation.monitor.function;
// The reconciler captures with the capture's logic (it releases or leases locks of ended executions).
const lockHolders = new Set<lambda.Function>([...(lockFn ? [lockFn] : []), stack.executionCapture.function, stack.reconciler.function]);

test('the fixture has writers, a monitor and lock holders to evaluate', () => {
  expect(writers.size).toBeGreaterThanOrEqual(4);
  expect(lockFn).toBeDefined();
  expect(lockKeyMac).toBeDefined();
  expect(allFunctions.length).toBeGreaterThan(writers.size + 2);
});

describe('record key: GenerateMac only for the record writers', () => {
  test.each(allFunctions.map((fn) => [fn.node.path, fn] as const))('%s', async (_path, fn) => {
    const v = await m.evaluate(roleOf(fn), 'kms:GenerateMac', recordKey);
    expect(v.ignored).toEqual([]);
    if (writers.has(fn)) expect(v.result).toBe('Allowed');
    else expect(v.result).not.toBe('Allowed');
  });
});

describe('record key: VerifyMac only for the lost-task monitor', () => {
  test.each(allFunctions.map((fn) => [fn.node.path, fn] as const))('%s', async (_path, fn) => {
    const v = await m.evaluate(roleOf(fn), 'kms:VerifyMac', recordKey);
    if (fn === monitorFn) expect(v.result).toBe('Allowed');
    else expect(v.result).not.toBe('Allowed');
  });
});

describe('lock key: GenerateMac only for the lock function and the capture; VerifyMac for nobody', () => {
  test.each(allFunctions.map((fn) => [fn.node.path, fn] as const))('%s', async (_path, fn) => {
    const v = await m.evaluate(roleOf(fn), 'kms:GenerateMac', lockKey);
    if (lockHolders.has(fn)) expect(v.result).toBe('Allowed');
    else expect(v.result).not.toBe('Allowed');
    expect((await m.evaluate(roleOf(fn), 'kms:VerifyMac', lockKey)).result).not.toBe('Allowed');
  });
});

describe('people: the key policies deny them, whatever their own policies allow', () => {
  const writerArn = m.value(stack.tickStarter.function.role!.roleArn);
  const lookAlike = m.outsideRole(`${writerArn}-copy`, ADMINISTRATOR_ACCESS, 'a role named like a writer, with AdministratorAccess');
  test.each([
    ['an administrator makes a record MAC', admin, 'kms:GenerateMac', () => recordKey],
    ['an administrator checks a record MAC', admin, 'kms:VerifyMac', () => recordKey],
    ['an administrator makes a lock-key HMAC (to reverse lock keys with a dictionary)', admin, 'kms:GenerateMac', () => lockKey],
    ['a role with kms:* makes a record MAC', stranger, 'kms:GenerateMac', () => recordKey],
    ['a role named like a writer makes a record MAC', lookAlike, 'kms:GenerateMac', () => recordKey],
    ['the lost-task monitor makes a record MAC (it verifies only)', roleOf(monitorFn), 'kms:GenerateMac', () => recordKey],
    ['the lock function makes a record MAC (its key is another)', lockFn ? roleOf(lockFn) : admin, 'kms:GenerateMac', () => recordKey],
  ] as const)('%s: explicitly denied by the key policy', async (_name, principal, action, resource) => {
    const v = await m.evaluate(principal, action, resource());
    expect({ result: v.result, ignored: v.ignored }).toEqual({ result: 'ExplicitlyDenied', ignored: [] });
  });
});

/** Controls: with the key policy's deny removed, the administrator's request is Allowed: the deny is what stops it. */
describe('each deny is what stops the administrator', () => {
  const without = (keyLogicalId: string, sid: string): IamModel => {
    const t = structuredClone(template);
    const doc = t.Resources[keyLogicalId].Properties!.KeyPolicy;
    const before = doc.Statement.length;
    doc.Statement = doc.Statement.filter((s: { Sid?: string }) => s.Sid !== sid);
    if (doc.Statement.length !== before - 1) throw new Error(`${keyLogicalId} has no statement ${sid}`);
    return new IamModel(stack, t);
  };
  test.each([
    ['record key GenerateMac', () => m.logicalId(stack.paramLog.macKey.key), 'DenyGenerateMacExceptWriters', 'kms:GenerateMac', () => recordKey],
    ['record key VerifyMac', () => m.logicalId(stack.paramLog.macKey.key), 'DenyVerifyMacExceptVerifiers', 'kms:VerifyMac', () => recordKey],
    ['lock key GenerateMac', () => m.logicalId(lockKeyMac!.key), 'DenyGenerateMacExceptWriters', 'kms:GenerateMac', () => lockKey],
  ] as const)('%s', async (_name, id, sid, action, resource) => {
    expect((await m.evaluate(admin, action, resource())).result).toBe('ExplicitlyDenied');
    expect((await without(id(), sid).evaluate(admin, action, resource())).result).toBe('Allowed');
  });
});
