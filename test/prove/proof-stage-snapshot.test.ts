/**
 * The synthesized sandbox stage, committed in the style of integ-runner's snapshots
 * (test/snapshots/proof-stage.template.json, asset hashes normalised): a change to what a sandbox
 * deploys shows up as a diff in review. Refresh with `UPDATE_PROOF_SNAPSHOT=1 npx jest test/prove/proof-stage-snapshot.test.ts`.
 * Assertions beside it pin what matters: the proof job only in sandbox stages, its table access
 * only under `proof#`, its schedule off.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PROOF_JOB } from '../../lib/config/proof-job';
import { resolveConfig } from '../../lib/config/validate';
import { PROOF_PRODUCER_OUTPUT } from '../../lib/proof-job';
import { ScheduledJobsStack } from '../../lib/scheduled-jobs-stack';
import { fixtureConfig } from '../support/fixture-config';
import { sandboxConfig } from './sandbox-config';
import { IamModel } from '../support/iam-harness';

const SNAPSHOT = resolve(__dirname, '..', 'snapshots', 'proof-stage.template.json');

function synth(config: typeof sandboxConfig, stage: string): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, `ScheduledJobs-${stage}`, { config: resolveConfig(config, { stage }), projectRoot: resolve(__dirname, '..', '..'), env: { account: '111111111111', region: 'us-east-1' } });
  return Template.fromStack(stack, { skipCyclicalDependenciesCheck: true });
}

/** The template with asset hashes (bundles, nested templates) replaced, so only real changes differ. */
function normalised(t: Template): string {
  return JSON.stringify(t.toJSON(), null, 2).replace(/[0-9a-f]{64}(\.zip|\.json)?/g, 'ASSET_HASH$1');
}

const sandbox = synth(sandboxConfig, 'local');

test('the synthesized proof stage matches the committed snapshot', () => {
  const now = normalised(sandbox);
  // Written only on request (or when missing outside CI): in CI a missing snapshot is a failure, as with `jest --ci`.
  if (process.env.UPDATE_PROOF_SNAPSHOT === '1' || (!existsSync(SNAPSHOT) && !process.env.CI)) writeFileSync(SNAPSHOT, `${now}\n`);
  expect(now).toEqual(readFileSync(SNAPSHOT, 'utf8').trimEnd());
});

test('a sandbox stage deploys the proof job, schedule off, with table access under proof# only', () => {
  const resolved = resolveConfig(sandboxConfig, { stage: 'local' });
  expect(resolved.sandbox).toBe(true);
  expect(resolved.jobs.map((j) => j.name)).toContain(PROOF_JOB);
  sandbox.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'DISABLED' });
  sandbox.hasResourceProperties('AWS::IAM::Policy', {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['proof#*'] } } }),
      ]),
    },
  });
  sandbox.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ PROOF_TABLE: Match.anyValue() }) } });
  // prove delivers ticks straight to the proof producer (the duplicate scenario): its name is an output.
  const producer = (sandbox.toJSON().Outputs as Record<string, { Value: { Ref: string } }>)[PROOF_PRODUCER_OUTPUT];
  const fn = (sandbox.toJSON().Resources as Record<string, { Type: string; Properties: { Environment: { Variables: Record<string, unknown> } } }>)[producer.Value.Ref];
  expect(fn.Type).toBe('AWS::Lambda::Function');
  expect(fn.Properties.Environment.Variables.JOB_NAME).toBe(PROOF_JOB);
  expect(fn.Properties.Environment.Variables.STATE_MACHINE_ARN).toBeDefined();
});

test('a stage without sandbox: true has no proof job and no proof access', () => {
  const config = { ...fixtureConfig, stages: { ...fixtureConfig.stages, local: { jobs: { 'example-api': { deploy: true } } } } };
  const resolved = resolveConfig(config, { stage: 'local' });
  expect(resolved.sandbox).toBeUndefined();
  expect(resolved.jobs.map((j) => j.name)).not.toContain(PROOF_JOB);
  const t = synth(config, 'local');
  expect(JSON.stringify(t.toJSON())).not.toContain('PROOF_TABLE');
  expect(JSON.stringify(t.toJSON())).not.toContain('proof#');
  expect(Object.keys(t.toJSON().Outputs ?? {})).not.toContain(PROOF_PRODUCER_OUTPUT);
});

test('cdk-nag AwsSolutions finds nothing unacknowledged in the sandbox stage (synth fails otherwise)', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  new ScheduledJobsStack(app, 'ScheduledJobs-local', { config: resolveConfig(sandboxConfig, { stage: 'local' }), projectRoot: resolve(__dirname, '..', '..') });
  expect(() => app.synth()).not.toThrow();
});

test('sandbox must be a boolean', () => {
  expect(() => resolveConfig({ ...sandboxConfig, stages: { local: { sandbox: 'yes' as never } } }, { stage: 'local' })).toThrow(/stages.local.sandbox must be true or false/);
});

describe('the proof functions\' table access, evaluated by the IAM engine (test/support/iam-harness.ts)', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'ScheduledJobs-local', { config: resolveConfig(sandboxConfig, { stage: 'local' }), projectRoot: resolve(__dirname, '..', '..') });
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as never;
  const m = new IamModel(stack, template);
  const table = m.value(stack.coordination.table.tableArn);
  const act = m.role(stack.workflows.get(PROOF_JOB)!.stepFunctions.get('ProofAct')!.role!);
  const producer = m.role(stack.producers.get(PROOF_JOB)!.function.role!);
  const keys = (k: string) => ({ 'dynamodb:LeadingKeys': [k] });

  test('a step counts its calls and reads the fix switch under proof#', async () => {
    expect((await m.evaluate(act, 'dynamodb:UpdateItem', table, keys('proof#calls#t#a1#ProofAct'))).result).toBe('Allowed');
    expect((await m.evaluate(act, 'dynamodb:GetItem', table, keys('proof#fixed#p20261206031907f023'))).result).toBe('Allowed');
    expect((await m.evaluate(producer, 'dynamodb:GetItem', table, keys('proof#plan#20261206T0300Z'))).result).toBe('Allowed');
  });

  test('no proof function may set a hold, take a lock, or write a plan or the fix switch (the prover does)', async () => {
    expect((await m.evaluate(act, 'dynamodb:UpdateItem', table, keys('hold#proof-dependency'))).result).not.toBe('Allowed');
    expect((await m.evaluate(act, 'dynamodb:UpdateItem', table, keys('lock#x'))).result).not.toBe('Allowed');
    expect((await m.evaluate(act, 'dynamodb:PutItem', table, keys('proof#fixed#p20261206031907f023'))).result).not.toBe('Allowed');
    expect((await m.evaluate(producer, 'dynamodb:PutItem', table, keys('proof#plan#20261206T0300Z'))).result).not.toBe('Allowed');
  });
});
