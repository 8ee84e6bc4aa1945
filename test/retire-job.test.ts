import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DeployedJobsRecord, parseDeployedJobs, recordDeploy, removalProblems } from '../lib/config/deployed-jobs';
import { AppConfig } from '../lib/config/types';
import { ConfigError, resolveConfig } from '../lib/config/validate';
import { fixtureConfig } from './support/fixture-config';
import { synthApp } from './support/synth-app';

/**
 * Retire a job in two steps (issue 17, item 7): `retire: true` stops its schedule and keeps the
 * rest; removing a job the record says is deployed is refused at synth unless it has been retiring
 * for its execution timeout.
 */
const retiring = (c: AppConfig): AppConfig => ({ ...c, jobs: c.jobs.map((j) => (j.name === 'example-api' ? { ...j, retire: true } : j)) });
/** The job removed from the config (and from the stage's switches, which may only name jobs that exist). */
const without = (c: AppConfig, name: string): AppConfig => ({
  ...c,
  jobs: c.jobs.filter((j) => j.name !== name),
  stages: Object.fromEntries(Object.entries(c.stages ?? {}).map(([st, sc]) => [st, { ...sc, jobs: Object.fromEntries(Object.entries(sc.jobs ?? {}).filter(([j]) => j !== name)) }])),
});
const opts = { fileExists: () => true, stage: 'dev' };

describe('step 1: retire: true', () => {
  const { stack, config } = synthApp(() => retiring(fixtureConfig), 'Retiring');
  const t = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true });
  const api = config.jobs.find((j) => j.name === 'example-api')!;

  test('its schedule is off; the other job\'s is on', () => {
    expect(api).toMatchObject({ retiring: true, enabled: false });
    const stateOf = (job: string) => t.toJSON().Resources[Stack.of(stack).getLogicalId(stack.producers.get(job)!.schedule.node.defaultChild as never)].Properties.State;
    expect(stateOf('example-api')).toBe('DISABLED');
    expect(stateOf('example-fanout')).toBe('ENABLED');
    // Retiring overrides a stage that would switch it on.
    const on: AppConfig = { ...retiring(fixtureConfig), stages: { dev: { jobs: { 'example-api': { deploy: true, enabled: true }, 'example-fanout': { deploy: true } } } } };
    expect(resolveConfig(on, opts).jobs.find((j) => j.name === 'example-api')).toMatchObject({ retiring: true, enabled: false });
  });

  test('its state machine, step functions and its place in the capture, the reconciler and reprocess stay', () => {
    expect(stack.workflows.has('example-api')).toBe(true);
    const sm = Stack.of(stack).getLogicalId(stack.workflows.get('example-api')!.stateMachine.node.defaultChild as never);
    expect(t.toJSON().Resources[sm].Type).toBe('AWS::StepFunctions::StateMachine');
    const fnEnv = (fn: { node: { defaultChild?: unknown } }) => JSON.stringify(t.toJSON().Resources[Stack.of(stack).getLogicalId(fn.node.defaultChild as never)].Properties.Environment.Variables);
    expect(fnEnv(stack.executionCapture.function)).toContain('example-api');
    expect(fnEnv(stack.reconciler.function)).toContain(sm);
    expect(fnEnv(stack.reprocess.function)).toContain('example-api');
  });

  test('retire must be a boolean', () => {
    expect(() => resolveConfig({ ...fixtureConfig, jobs: fixtureConfig.jobs.map((j) => ({ ...j, retire: 'yes' as never })) }, opts)).toThrow(/retire must be true or false/);
  });
});

describe('step 2: removal, checked against deployed-jobs.json', () => {
  const now = new Date('2026-12-06T00:00:00Z');
  const record = (d: DeployedJobsRecord[string]): DeployedJobsRecord => ({ dev: d });

  test('removing a job recorded active is refused, with the two steps in the message', () => {
    const deployedJobs = record({ 'example-api': { state: 'active' }, 'example-fanout': { state: 'active' } });
    expect(() => resolveConfig(without(fixtureConfig, 'example-api'), { ...opts, deployedJobs, now })).toThrow(ConfigError);
    expect(() => resolveConfig(without(fixtureConfig, 'example-api'), { ...opts, deployedJobs, now })).toThrow(/job "example-api" is deployed in stage "dev".*retire: true.*jobs:record/);
    // The same config with the job kept synthesizes.
    expect(() => resolveConfig(fixtureConfig, { ...opts, deployedJobs, now })).not.toThrow();
  });

  test('a stage switch that stops deploying it (deploy: false) is a removal too', () => {
    const deployedJobs = record({ 'example-api': { state: 'active' }, 'example-fanout': { state: 'active' } });
    const c: AppConfig = { ...fixtureConfig, stages: { ...fixtureConfig.stages, dev: { ...fixtureConfig.stages!.dev, jobs: { 'example-fanout': { deploy: true } } } } };
    expect(() => resolveConfig(c, { ...opts, deployedJobs, now })).toThrow(/job "example-api" is deployed/);
  });

  test('a retiring job is removed only after its execution timeout has passed since the retire was recorded', () => {
    const since = new Date(now.getTime() - 3_600_000).toISOString();
    const deployedJobs = record({ 'example-api': { state: 'retiring', since, executionTimeoutSeconds: 7_200 }, 'example-fanout': { state: 'active' } });
    expect(() => resolveConfig(without(fixtureConfig, 'example-api'), { ...opts, deployedJobs, now })).toThrow(/retiring in stage "dev" since .* may run until 2026-12-06T01:00:00.000Z/);
    expect(() => resolveConfig(without(fixtureConfig, 'example-api'), { ...opts, deployedJobs, now: new Date(now.getTime() + 3_600_000) })).not.toThrow();
  });

  test('the record after a deploy: retiring keeps its first date; removed jobs leave it', () => {
    const t0 = new Date('2026-12-01T00:00:00Z');
    const jobs = [
      { name: 'a', retiring: true, executionTimeoutSeconds: 100 },
      { name: 'b', retiring: false, executionTimeoutSeconds: 100 },
    ];
    const first = recordDeploy({ prod: { gone: { state: 'active' } } }, 'dev', jobs, t0);
    expect(first.dev).toEqual({ a: { state: 'retiring', since: t0.toISOString(), executionTimeoutSeconds: 100 }, b: { state: 'active' } });
    expect(first.prod).toEqual({ gone: { state: 'active' } });
    const again = recordDeploy(first, 'dev', jobs, new Date('2026-12-03T00:00:00Z'));
    expect(again.dev.a).toEqual({ state: 'retiring', since: t0.toISOString(), executionTimeoutSeconds: 100 });
    expect(recordDeploy(again, 'dev', [jobs[1]], new Date()).dev).toEqual({ b: { state: 'active' } });
    expect(parseDeployedJobs(JSON.stringify(again))).toEqual(again);
    expect(() => parseDeployedJobs('{"dev":{"a":{"state":"gone"}}}')).toThrow(/must be \{"state":"active"\}/);
    expect(removalProblems('dev', undefined, [], t0)).toEqual([]);
  });
});
