import { fixtureConfig } from './support/fixture-config';
import { AppConfig, JobConfig } from '../lib/config/types';
import { ConfigError, DEFAULTS, resolveConfig } from '../lib/config/validate';

const job = (over: Partial<JobConfig> = {}): JobConfig => ({
  name: 'nightly-sync',
  schedule: 'cron(0 2 * * ? *)',
  producer: { entry: 'lambdas/jobs/nightly/producer.ts' },
  steps: [{ name: 'Sync', entry: 'lambdas/jobs/nightly/sync.ts', timeoutSeconds: 60, retry: { maxAttempts: 3, intervalSeconds: 5, retryableErrors: ['TransientError'] } }],
  ...over,
});

const config = (over: Partial<AppConfig> = {}): AppConfig => ({
  timeZone: 'Europe/Paris',
  paramLog: { readerRoleArnPatterns: ['arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/us-east-1/AWSReservedSSO_SRE_0123456789abcdef'] },
  alerts: { emails: ['oncall@example.com'] },
  jobs: [job()],
  ...over,
});

/** The problems a config produces, or [] when it is valid. */
function problems(c: AppConfig, fileExists?: (p: string) => boolean): string[] {
  try {
    resolveConfig(c, { fileExists });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
}

describe('resolveConfig', () => {
  it('accepts the shipped config and fills defaults', () => {
    const resolved = resolveConfig(fixtureConfig);
    expect(resolved.timeZone).toBe('Asia/Tokyo');
    expect(resolved.stage).toBe('dev');
    expect(resolved.jobs.map((j) => j.steps.map((s) => s.name))).toEqual([['Fetch', 'CallApi', 'Publish'], ['ListParts', 'ProcessParts', 'Summarize']]);
    // The dev stage deploys the API example with its schedule off (it calls an external URL).
    expect(resolved.jobs.map((j) => [j.name, j.enabled])).toEqual([['example-api', false], ['example-fanout', true]]);
    expect(resolveConfig(fixtureConfig, { allJobs: true }).jobs.map((j) => j.enabled)).toEqual([true, true]);
    const fetch = resolved.jobs[0].steps[0];
    if (fetch.kind !== 'lambda') throw new Error('Fetch is a Lambda step');
    expect(fetch.retry.jitter).toBe(true);
    expect(fetch.retry.backoffRate).toBe(DEFAULTS.backoffRate);
    expect(fetch.memoryMiB).toBe(DEFAULTS.stepMemoryMiB);
    expect(resolved.investigation.bytesScannedCutoffPerQuery).toBe(DEFAULTS.bytesScannedCutoffPerQuery);
  });

  it('defaults spool retention to 14 days and refuses less than 7', () => {
    expect(resolveConfig(config()).spool.retentionDays).toBe(14);
    expect(problems(config({ spool: { retentionDays: 3 } }))).toEqual([expect.stringMatching(/^spool\.retentionDays must be an integer 7-14/)]);
  });

  it.each<[string, Partial<AppConfig>, RegExp]>([
    ['an unknown time zone', { timeZone: 'Tokyo' }, /^timeZone must be an IANA time zone/],
    ['no jobs', { jobs: [] }, /^jobs is empty/],
    ['a bad cron', { jobs: [job({ schedule: 'cron(0 2 * * *)' })] }, /^jobs\[0\] \(nightly-sync\)\.schedule: cron needs 6 fields/],
    ['duplicate job names', { jobs: [job(), job()] }, /two jobs are named "nightly-sync"/],
    ['a job with no steps', { jobs: [job({ steps: [] })] }, /steps is empty: a job needs at least one step/],
    ['an upper-case job name', { jobs: [job({ name: 'Nightly' })] }, /\.name must be lowercase/],
    ['no reader roles', { paramLog: { readerRoleArnPatterns: [] } }, /readerRoleArnPatterns must list at least one/],
    ['a reader pattern that matches every role', { paramLog: { readerRoleArnPatterns: ['arn:aws:iam::*:role/*'] } }, /is a pattern: a pattern also matches roles created later/],
    ['a Firehose buffer out of range', { paramLog: { readerRoleArnPatterns: ['arn:aws:iam::123456789012:role/Reader'], bufferSeconds: 901 } }, /bufferSeconds must be an integer 0-900/],
    ['an Athena cutoff below the minimum', { investigation: { bytesScannedCutoffPerQuery: 1000 } }, /bytesScannedCutoffPerQuery must be an integer of at least 10000000/],
  ])('refuses %s, naming the field', (_what, over, message) => {
    const found = problems(config(over));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  const step = (retry: object, extra: object = {}) => job({ steps: [{ name: 'Sync', entry: 'lambdas/x.ts', timeoutSeconds: 60, retry: retry as never, ...extra }] });
  it.each<[string, JobConfig, RegExp]>([
    ['too many attempts', step({ maxAttempts: 11, intervalSeconds: 1, retryableErrors: ['TransientError'] }), /retry\.maxAttempts must be an integer 0-10/],
    ['a zero interval', step({ maxAttempts: 1, intervalSeconds: 0, retryableErrors: ['TransientError'] }), /retry\.intervalSeconds must be an integer 1-3600/],
    ['a backoff below 1', step({ maxAttempts: 1, intervalSeconds: 1, backoffRate: 0.5, retryableErrors: ['TransientError'] }), /retry\.backoffRate must be 1-10/],
    ['a max delay below the interval', step({ maxAttempts: 1, intervalSeconds: 30, maxDelaySeconds: 10, retryableErrors: ['TransientError'] }), /maxDelaySeconds \(10\) is below intervalSeconds \(30\)/],
    ['retrying timeouts', step({ maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['States.Timeout'] }), /must not list States\.Timeout/],
    ['a catch-all retry', step({ maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['States.ALL'] }), /must not list States\.ALL/],
    ['attempts without retryable errors', step({ maxAttempts: 2, intervalSeconds: 1, retryableErrors: [] }), /retryableErrors is empty: name the errors to retry, or set maxAttempts to 0/],
    ['a step timeout over the Lambda maximum', step({ maxAttempts: 0, intervalSeconds: 1, retryableErrors: [] }, { timeoutSeconds: 901 }), /timeoutSeconds must be an integer 1-900/],
    ['a reserved state name', step({ maxAttempts: 0, intervalSeconds: 1, retryableErrors: [] }, { name: 'SpoolFailure' }), /is used by the workflow itself/],
    ['a step name that is not PascalCase', step({ maxAttempts: 0, intervalSeconds: 1, retryableErrors: [] }, { name: 'call api' }), /must be PascalCase/],
    ['an AWS_ variable', step({ maxAttempts: 0, intervalSeconds: 1, retryableErrors: [] }, { environment: { AWS_REGION: 'x' } }), /"AWS_REGION" is not a usable variable name/],
  ])('refuses a step with %s', (_what, j, message) => {
    const found = problems(config({ jobs: [j] }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it('refuses duplicate step names within a job', () => {
    const s = job().steps[0];
    expect(problems(config({ jobs: [job({ steps: [s, s] })] }))).toEqual([expect.stringMatching(/two steps are named "Sync"/)]);
  });

  it('reports a handler file that does not exist', () => {
    const found = problems(config(), (p) => p !== 'lambdas/jobs/nightly/sync.ts');
    expect(found).toEqual([expect.stringMatching(/steps\[0\] \(Sync\)\.entry: file "lambdas\/jobs\/nightly\/sync.ts" does not exist/)]);
  });

  it('collects every problem and throws them at once', () => {
    const found = problems(config({ timeZone: 'Nowhere/City', spool: { retentionDays: 30 }, jobs: [job({ schedule: 'daily' }), job()] }));
    expect(found).toHaveLength(4);
    expect(() => resolveConfig(config({ timeZone: 'Nowhere/City' }))).toThrow(/Invalid app config \(bin\/config\.ts\), 1 problem/);
  });
});

describe('resolveConfig: shapes, holds, locks, function settings', () => {
  const L = (name: string, extra: object = {}) => ({ name, entry: 'lambdas/x.ts', timeoutSeconds: 10, retry: { maxAttempts: 0, intervalSeconds: 1, retryableErrors: [] }, ...extra });
  const withSteps = (steps: unknown[], extra: Partial<JobConfig> = {}) => config({ jobs: [job({ steps: steps as never, ...extra })] });

  it.each<[string, AppConfig, RegExp]>([
    ['a map as the first step', withSteps([{ name: 'Each', map: { maxItems: 5, maxConcurrency: 2, steps: [L('Item')] } }]), /a map cannot be the first step/],
    ['a map after a group', withSteps([L('A'), { name: 'G', parallel: [[L('B')], [L('C')]] }, { name: 'Each', map: { maxItems: 5, maxConcurrency: 2, steps: [L('Item')] } }]), /the step before a map must be a Lambda step/],
    ['a map of too many items', withSteps([L('A'), { name: 'Each', map: { maxItems: 5000, maxConcurrency: 2, steps: [L('Item')] } }]), /map\.maxItems must be an integer 1-1000/],
    ['a map concurrency over the inline limit', withSteps([L('A'), { name: 'Each', map: { maxItems: 5, maxConcurrency: 100, steps: [L('Item')] } }]), /map\.maxConcurrency must be an integer 1-40/],
    ['a group of one branch', withSteps([{ name: 'G', parallel: [[L('B')]] }]), /parallel must list 2-10 branches/],
    ['a group nested in a group', withSteps([{ name: 'G', parallel: [[{ name: 'H', parallel: [[L('X')], [L('Y')]] }], [L('C')]] }]), /groups and maps cannot be nested/],
    ['a step name used twice across a group', withSteps([L('A'), { name: 'G', parallel: [[L('A')], [L('C')]] }]), /two steps are named "A"/],
    ['an undeclared dependency', withSteps([L('A', { dependsOn: 'billing-api' })]), /dependsOn: "billing-api" is not declared; add it to dependencies/],
    ['a hold window that is a rate', { ...withSteps([L('A')]), dependencies: { 'billing-api': { windows: [{ cron: 'rate(1 hour)', durationMinutes: 30 }] } } }, /windows\[0\]\.cron must be a cron\(\.\.\.\) expression/],
    ['a hold window of no length', { ...withSteps([L('A')]), dependencies: { 'billing-api': { windows: [{ cron: 'cron(0 2 * * ? *)', durationMinutes: 0 }] } } }, /durationMinutes must be an integer 1-10080/],
    ['an exclusive key that is not a field', withSteps([L('A')], { exclusiveBy: 'order id' }), /exclusiveBy must be a params field/],
    ['a lock wait without an exclusive key', withSteps([L('A')], { exclusiveWaitSeconds: 30 }), /exclusiveWaitSeconds is set but exclusiveBy is not/],
    ['an execution timeout over a year', withSteps([L('A')], { executionTimeoutSeconds: 40_000_000 }), /executionTimeoutSeconds must be an integer 60-31536000/],
    ['retrying a hold', withSteps([L('A', { retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['DependencyOnHold'] } })]), /must not list DependencyOnHold/],
    ['retrying the handler\'s own timeout', withSteps([L('A', { retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['StepTimeoutError'] } })]), /must not list StepTimeoutError/],
    ['a bare * action', withSteps([L('A', { iam: { statements: [{ actions: ['*'], resources: ['arn:aws:s3:::b/*'] }] } })]), /is not an IAM action/],
    ['a * resource without saying why', withSteps([L('A', { iam: { statements: [{ actions: ['s3:GetObject'], resources: ['*'] }] } })]), /resources is "\*": name the ARNs, or set allowAnyResource/],
    ['an administrator policy', withSteps([L('A', { iam: { managedPolicyArns: ['arn:aws:iam::aws:policy/AdministratorAccess'] } })]), /far wider than a job needs/],
    ['a subnet that is not an id', withSteps([L('A', { vpc: { subnetIds: ['private-a'], securityGroupIds: ['sg-0123456789abcdef0'] } })]), /is not a subnet id/],
    ['six layers', withSteps([L('A', { layers: Array.from({ length: 6 }, (_, i) => `arn:aws:lambda:ap-northeast-1:123456789012:layer:l${i}:1`) })]), /at most 5 layers/],
    ['a secret name with spaces', withSteps([L('A', { secrets: { secretsManager: ['my secret'] } })]), /is not a Secrets Manager secret name/],
  ])('refuses %s, saying how to fix it', (_what, c, message) => {
    const found = problems(c);
    expect(found).toEqual([expect.stringMatching(message)]);
  });

  it('accepts every shape with defaults filled, and derives an execution timeout that covers every attempt', () => {
    const r = resolveConfig({
      ...withSteps(
        [
          L('Plan', { timeoutSeconds: 30, retry: { maxAttempts: 2, intervalSeconds: 5, retryableErrors: ['TransientError'] } }),
          { name: 'Each', map: { itemsField: 'items', maxItems: 10, maxConcurrency: 5, steps: [L('Item', { maxConcurrency: 3 })] } },
          { name: 'Both', parallel: [[L('Left')], [L('Right', { dependsOn: 'billing-api' })]] },
        ],
        { exclusiveBy: 'account', exclusiveWaitSeconds: 120 },
      ),
      dependencies: { 'billing-api': { windows: [{ cron: 'cron(0 2 ? * SUN *)', durationMinutes: 180 }] } },
    });
    const [j] = r.jobs;
    expect(j.steps.map((s) => s.kind)).toEqual(['lambda', 'map', 'parallel']);
    expect(j.exclusiveBy).toBe('account');
    expect(r.dependencies).toEqual([{ name: 'billing-api', description: '', windows: [{ cron: 'cron(0 2 ? * SUN *)', durationMinutes: 180 }] }]);
    // Plan: 3 attempts x (30 + 15) + waits 5 + 10; the map: 2 waves of Item; the group: its longest branch; plus lock, failure path, margin.
    expect(j.executionTimeoutSeconds).toBeGreaterThan(3 * 45 + 15 + 2 * 25 + 25 + 120);
    expect(resolveConfig(withSteps([L('A')], { executionTimeoutSeconds: 900 })).jobs[0].executionTimeoutSeconds).toBe(900);
  });
});

describe('resolveConfig: stages and alerts', () => {
  const withStages = (over: Partial<AppConfig>) => config({ jobs: [job(), job({ name: 'example', optIn: true })], ...over });

  it('selects the stage, deploys opt-in jobs only where enabled, and fails with the list of stages for an unknown one', () => {
    const c = withStages({ stages: { dev: { jobs: { example: { deploy: true } } }, prod: { account: '111111111111', region: 'eu-west-1', readerRoleArnPatterns: ['arn:aws:iam::111111111111:role/Reader'] } }, defaultStage: 'prod' });
    expect(resolveConfig(c).jobs.map((j) => j.name)).toEqual(['nightly-sync']);
    expect(resolveConfig(c).account).toBe('111111111111');
    expect(resolveConfig(c, { stage: 'dev' }).jobs.map((j) => j.name)).toEqual(['nightly-sync', 'example']);
    expect(problems({ ...c })).toEqual([]);
    expect(() => resolveConfig(c, { stage: 'qa' })).toThrow(/stage "qa" is not declared in stages; deploy one of: -c stage=dev, -c stage=prod/);
  });

  it('refuses a stage with no alert destination, saying how to add one', () => {
    const c = withStages({ alerts: undefined, stages: { prod: {} } });
    expect(problems(c)).toEqual([expect.stringMatching(/alerts: stage "prod" has no alert destination.*alerts: \{ emails: \['oncall@your-company\.com'\] \}.*topicArn/)]);
    expect(problems(withStages({ alerts: undefined, stages: { prod: { alerts: { topicArn: 'arn:aws:sns:eu-west-1:111111111111:oncall' } } } }))).toEqual([]);
    expect(problems(withStages({ alerts: { topicArn: 'oncall' } }))).toEqual([expect.stringMatching(/topicArn must be an SNS topic ARN/)]);
  });

  it('refuses a stage that names a job that does not exist, and the old operatorEmails field', () => {
    expect(problems(withStages({ stages: { dev: { jobs: { nightly: { deploy: true } } } } }))).toEqual([expect.stringMatching(/stages\.dev\.jobs: "nightly" is not a job/)]);
    expect(problems(withStages({ investigation: { operatorEmails: ['a@b.c'] } as never }))).toEqual([expect.stringMatching(/investigation\.operatorEmails moved to alerts\.emails/)]);
  });
});
