import { appConfig } from '../bin/config';
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
  paramLog: { readerRoleArnPatterns: ['arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_SRE_*'] },
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
    const resolved = resolveConfig(appConfig);
    expect(resolved.timeZone).toBe('Asia/Tokyo');
    expect(resolved.stage).toBe('dev');
    expect(resolved.jobs.map((j) => j.steps.map((s) => s.name))).toEqual([['Fetch', 'CallApi', 'Publish'], ['ListParts', 'ProcessParts', 'Summarize']]);
    // The dev stage deploys the API example with its schedule off (it calls an external URL).
    expect(resolved.jobs.map((j) => [j.name, j.enabled])).toEqual([['example-api', false], ['example-fanout', true]]);
    expect(resolveConfig(appConfig, { allJobs: true }).jobs.map((j) => j.enabled)).toEqual([true, true]);
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
    ['a reader pattern that matches every role', { paramLog: { readerRoleArnPatterns: ['arn:aws:iam::*:role/*'] } }, /matches every role/],
    ['a Firehose buffer out of range', { paramLog: { readerRoleArnPatterns: ['arn:aws:iam::123456789012:role/Reader'], bufferSeconds: 901 } }, /bufferSeconds must be an integer 0-900/],
    ['an Athena cutoff below the minimum', { investigation: { bytesScannedCutoffPerQuery: 1000 } }, /bytesScannedCutoffPerQuery must be an integer of at least 10000000/],
  ])('refuses %s, naming the field', (_what, over, message) => {
    const found = problems(config(over));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  const step = (retry: object, extra: object = {}) => job({ steps: [{ name: 'Sync', entry: 'lambdas/x.ts', timeoutSeconds: 60, retry: retry as never, ...extra }] });
  it.each<[string, JobConfig, RegExp]>([
    ['too many attempts', step({ maxAttempts: 11, intervalSeconds: 1, retryableErrors: ['E'] }), /retry\.maxAttempts must be an integer 0-10/],
    ['a zero interval', step({ maxAttempts: 1, intervalSeconds: 0, retryableErrors: ['E'] }), /retry\.intervalSeconds must be an integer 1-3600/],
    ['a backoff below 1', step({ maxAttempts: 1, intervalSeconds: 1, backoffRate: 0.5, retryableErrors: ['E'] }), /retry\.backoffRate must be 1-10/],
    ['a max delay below the interval', step({ maxAttempts: 1, intervalSeconds: 30, maxDelaySeconds: 10, retryableErrors: ['E'] }), /maxDelaySeconds \(10\) is below intervalSeconds \(30\)/],
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
