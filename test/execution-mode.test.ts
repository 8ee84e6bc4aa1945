import { fixtureConfig } from './support/fixture-config';
import { AppConfig, JobConfig, LambdaStepConfig } from '../lib/config/types';
import { ConfigError, resolveConfig } from '../lib/config/validate';
import { EXPRESS_MAX_SECONDS, HIGH_VOLUME_FAILURE_PATH_SECONDS, HIGH_VOLUME_ITEMS_SECONDS, HIGH_VOLUME_RECORD_SECONDS, highVolumeChildShape, HighVolumeShapeError, highVolumeWorstCase } from '../lib/config/execution-mode';

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
    expect(p).toEqual([expect.stringContaining(`worst case per task is 306 s, above the ${HIGH_VOLUME_ITEMS_SECONDS} s an Express child has for its items (${EXPRESS_MAX_SECONDS} s less ${HIGH_VOLUME_RECORD_SECONDS} s`)]);
    expect(p[0]).toContain('Fetch 183 s (60 s x (1+2) + 3 s waits)');
    expect(p[0]).toContain('keep the job on "standard"');
    // The same job fits with one attempt fewer on Fetch.
    expect(modeProblems(job({ steps: [step('Fetch', 60, { maxAttempts: 1 }), step('Call', 30)] }))).toEqual([]);
  });

  it("checks a child, not one task: 100 items 10 at once are 10 waves, so a 90 s task gets 30 items per child (3 waves + records = 300 s)", () => {
    // One step, 60 s, no retries: 60 + 30 s failure path = 90 s per task. The old check passed it
    // against 300 s, yet a child of 100 items at 10 at once needs 10 x 90 = 900 s.
    const oneStep = job({ steps: [step('Call', 60, { maxAttempts: 0, retryableErrors: [] })] });
    expect(modeProblems(oneStep)).toEqual([]);
    const steps = resolveConfig(config(oneStep), { fileExists: () => true }).jobs[0].steps;
    const shape = highVolumeChildShape(steps, { itemsPerChild: 100, childConcurrency: 10 });
    expect(shape).toEqual({ itemsPerChild: 30, childConcurrency: 10, waves: 3, perItemSeconds: 90, childSeconds: 300 });
    expect(shape.childSeconds).toBeLessThanOrEqual(EXPRESS_MAX_SECONDS);
    // Asked for exactly (a deployment that sets itemsPerChild), 100 is refused with what to change.
    const asked = () => highVolumeChildShape(steps, { itemsPerChild: 100, childConcurrency: 10 }, true);
    expect(asked).toThrow(HighVolumeShapeError);
    expect(asked).toThrow('itemsPerChild 100 at childConcurrency 10 is 10 waves of up to 90 s (one task\'s worst case) + 30 s of records = 930 s, above the 300 s an Express child runs: set itemsPerChild to at most 30');
    // More at once fit more items in the same three waves.
    expect(highVolumeChildShape(steps, { itemsPerChild: 100, childConcurrency: 40 })).toMatchObject({ itemsPerChild: 100, waves: 3, childSeconds: 300 });
    // The three-step job: 3 x (10 s x 3 + 3 s waits) + 30 s = 129 s per task: two waves fit.
    const three = resolveConfig(config(job()), { fileExists: () => true }).jobs[0].steps;
    expect(highVolumeChildShape(three, { itemsPerChild: 100, childConcurrency: 10 })).toEqual({ itemsPerChild: 20, childConcurrency: 10, waves: 2, perItemSeconds: 129, childSeconds: 288 });
    // A 1 s step: 31 s per task, eight waves (278 s); the failure path alone (30 s) keeps ten waves out.
    const tiny = resolveConfig(config(job({ steps: [step('Call', 1, { maxAttempts: 0, retryableErrors: [] })] })), { fileExists: () => true }).jobs[0].steps;
    expect(highVolumeChildShape(tiny, { itemsPerChild: 100, childConcurrency: 10 })).toMatchObject({ itemsPerChild: 80, waves: 8, childSeconds: 278 });
    expect(highVolumeChildShape(tiny, { itemsPerChild: 50, childConcurrency: 10 })).toMatchObject({ itemsPerChild: 50, waves: 5, childSeconds: 185 });
    // Not even one wave: refused by validation, and the shape says so.
    const long = job({ steps: [step('Call', 250, { maxAttempts: 0, retryableErrors: [] })] });
    expect(modeProblems(long)).toEqual([expect.stringContaining('worst case per task is 280 s, above the 270 s')]);
    const longSteps = resolveConfig(config({ ...long, executionMode: 'standard' }), { fileExists: () => true }).jobs[0].steps;
    expect(() => highVolumeChildShape(longSteps, { itemsPerChild: 100, childConcurrency: 10 })).toThrow(/not even one item fits the 270 s/);
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
