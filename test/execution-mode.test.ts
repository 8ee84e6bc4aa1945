import { fixtureConfig } from './support/fixture-config';
import { AppConfig, JobConfig, LambdaStepConfig } from '../lib/config/types';
import { ConfigError, resolveConfig } from '../lib/config/validate';
import { EXPRESS_MAX_SECONDS, HIGH_VOLUME_FAILURE_PATH_SECONDS, highVolumeWorstCase } from '../lib/config/execution-mode';

const step = (name: string, timeoutSeconds: number, retry: Partial<LambdaStepConfig['retry']> = {}): LambdaStepConfig => ({
  name,
  entry: `lambdas/jobs/short/${name.toLowerCase()}.ts`,
  timeoutSeconds,
  retry: { maxAttempts: 2, intervalSeconds: 1, backoffRate: 2, maxDelaySeconds: 10, retryableErrors: ['TransientError'], ...retry },
});

const job = (over: Partial<JobConfig> = {}): JobConfig => ({
  name: 'short-job',
  schedule: 'rate(5 minutes)',
  producer: { entry: 'lambdas/jobs/short/producer.ts' },
  steps: [step('Fetch', 10), step('Call', 10), step('Publish', 10)],
  executionMode: 'high-volume',
  ...over,
});

const config = (j: JobConfig): AppConfig => ({
  timeZone: 'UTC',
  paramLog: { readerRoleArnPatterns: ['arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/us-east-1/AWSReservedSSO_SRE_0123456789abcdef'] },
  alerts: { emails: ['oncall@example.com'] },
  jobs: [j],
});

/** The execution-mode problems of a config (other checks, e.g. files, are not this test's). */
function modeProblems(j: JobConfig): string[] {
  try {
    resolveConfig(config(j), { fileExists: () => true });
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.filter((p) => /executionMode|high-volume/.test(p));
  }
}

describe('executionMode', () => {
  it('defaults to standard, and the fixture jobs stay standard', () => {
    expect(resolveConfig(fixtureConfig).jobs.map((j) => j.executionMode)).toEqual(['standard', 'standard']);
    expect(resolveConfig(config(job({ executionMode: undefined })), { fileExists: () => true }).jobs[0].executionMode).toBe('standard');
  });

  it('accepts high-volume for a short three-step job', () => {
    expect(modeProblems(job())).toEqual([]);
    expect(resolveConfig(config(job()), { fileExists: () => true }).jobs[0].executionMode).toBe('high-volume');
  });

  it('computes the worst case as timeout x (1+attempts) + capped backoff waits, per step, plus the failure path', () => {
    const resolved = resolveConfig(config(job({ executionMode: 'standard', steps: [step('A', 20, { maxAttempts: 3, intervalSeconds: 4, backoffRate: 2, maxDelaySeconds: 10 })] })), { fileExists: () => true });
    const worst = highVolumeWorstCase(resolved.jobs[0].steps);
    // 20 x 4 attempts = 80; waits 4, min(8,10)=8, min(16,10)=10 -> 22.
    expect(worst.lines[0]).toEqual({ step: 'A', seconds: 102, how: '20 s x (1+3) + 22 s waits' });
    expect(worst.totalSeconds).toBe(102 + HIGH_VOLUME_FAILURE_PATH_SECONDS);
  });

  it('refuses a job whose worst case exceeds five minutes, with the numbers', () => {
    const p = modeProblems(job({ steps: [step('Fetch', 60), step('Call', 30)] }));
    // Fetch 60 x 3 + 3 s waits = 183, Call 30 x 3 + 3 = 93, failure path 30: 306 s.
    expect(p).toEqual([expect.stringContaining(`worst case is 306 s, above the ${EXPRESS_MAX_SECONDS} s`)]);
    expect(p[0]).toContain('Fetch 183 s (60 s x (1+2) + 3 s waits)');
    expect(p[0]).toContain('keep the job on "standard"');
    // The same job fits with one attempt fewer on Fetch.
    expect(modeProblems(job({ steps: [step('Fetch', 60, { maxAttempts: 1 }), step('Call', 30)] }))).toEqual([]);
  });

  it('counts a map by its waves (and refuses groups and maps, not built in the child yet)', () => {
    const resolveSteps = (steps: JobConfig['steps']) => resolveConfig(config(job({ executionMode: 'standard', steps: [step('First', 1, { maxAttempts: 0, retryableErrors: [] }), ...steps] })), { fileExists: () => true }).jobs[0].steps;
    const map = (maxItems: number, maxConcurrency: number) => [{ name: 'Parts', map: { maxItems, maxConcurrency, steps: [step('Part', 10, { maxAttempts: 0, retryableErrors: [] })] } }];
    expect(highVolumeWorstCase(resolveSteps(map(40, 2))).lines[1]).toEqual({ step: 'Parts', seconds: 200, how: '20 waves of 40 items at 2 at once' });
    expect(highVolumeWorstCase(resolveSteps(map(40, 1))).totalSeconds).toBe(1 + 400 + HIGH_VOLUME_FAILURE_PATH_SECONDS);
    const p = modeProblems(job({ steps: [step('First', 1, { maxAttempts: 0, retryableErrors: [] }), ...map(40, 1)] }));
    expect(p).toEqual([expect.stringContaining('groups and maps (Parts) are not built'), expect.stringContaining('Parts 400 s (40 waves of 40 items at 1 at once)')]);
  });

  it('refuses exclusiveBy and an execution timeout above five minutes in high-volume, not in standard', () => {
    expect(modeProblems(job({ exclusiveBy: 'orderId' }))).toEqual([expect.stringMatching(/cannot keep exclusiveBy \("orderId"\).*run twice/)]);
    expect(modeProblems(job({ executionTimeoutSeconds: 600 }))).toEqual([expect.stringMatching(/executionTimeoutSeconds \(600\) is above 300 s/)]);
    expect(modeProblems(job({ executionMode: 'standard', exclusiveBy: 'orderId', executionTimeoutSeconds: 600 }))).toEqual([]);
  });

  it('refuses an unknown mode', () => {
    expect(modeProblems(job({ executionMode: 'express' as never }))).toEqual([expect.stringMatching(/executionMode must be "standard" or "high-volume", got "express"/)]);
  });
});
