import { aslFromTemplate } from '../local/asl';
import { LAMBDA_SERVICE_RETRY, THROTTLE_RETRY } from '../lib/config/timeouts';
import { ResolvedStep } from '../lib/config/types';
import { fixtureConfig } from './support/fixture-config';
import { synthApp } from './support/synth-app';

/**
 * Execution timeouts cover the throttle retries they allow (issue 17, item 7). Read from the
 * SYNTHESIZED definitions, not from the formula: every retrier a step's Task state has (its own,
 * the throttle retrier, the CDK LambdaInvoke service-error retrier with MaxAttempts 6) is summed at
 * its worst (every attempt to the state's TimeoutSeconds, every wait at its cap), along the longest
 * path through the job's steps; the execution timeout must be at least that, or sustained
 * throttling ends the execution TIMED_OUT instead of in the step's Catch (spooled with the throttle
 * error). Before: 120 s were allowed for ~18 minutes of throttle retries.
 */
interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
}
interface TaskState {
  Type: string;
  TimeoutSeconds?: number;
  Retry?: Retrier[];
}

/**
 * Worst-case seconds of one Task state with its retriers (Step Functions counts each retrier's
 * attempts apart). An attempt ends by the state's TimeoutSeconds at the latest, except a throttled
 * one: the Invoke API refuses it at once (429 TooManyRequestsException, AWS Lambda API reference,
 * "Invoke"), counted as 1 s.
 */
function worstTaskSeconds(s: TaskState): number {
  const timeout = s.TimeoutSeconds ?? 0;
  let seconds = timeout;
  let waits = 0;
  for (const r of s.Retry ?? []) {
    const max = r.MaxAttempts ?? 3;
    const throttleOnly = r.ErrorEquals.every((e) => e === 'Lambda.TooManyRequestsException');
    seconds += max * (throttleOnly ? 1 : timeout);
    for (let k = 0; k < max; k++) waits += Math.min((r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** k, r.MaxDelaySeconds ?? Number.POSITIVE_INFINITY);
  }
  return seconds + waits;
}

const { template, config } = synthApp(() => fixtureConfig, 'TimeoutBudget');

/** Every state of a definition by name, nested maps and branches included. */
function statesOf(def: { States: Record<string, any> }): Map<string, TaskState> {
  const out = new Map<string, TaskState>();
  const walk = (states: Record<string, any>) => {
    for (const [name, st] of Object.entries(states)) {
      out.set(name, st as TaskState);
      if (st.ItemProcessor) walk(st.ItemProcessor.States);
      if (st.Iterator) walk(st.Iterator.States);
      for (const b of st.Branches ?? []) walk(b.States);
    }
  };
  walk(def.States);
  return out;
}

describe.each(config.jobs.map((j) => [j.name, j] as const))('job %s', (_name, job) => {
  const { definition } = aslFromTemplate(template, { job: job.name });
  const states = statesOf(definition as never);
  const task = (name: string) => {
    const s = states.get(name);
    if (!s) throw new Error(`no state ${name} in ${job.name}'s definition`);
    return worstTaskSeconds(s);
  };
  const chain = (steps: ReadonlyArray<{ name: string }>) => steps.reduce((n, s) => n + task(s.name), 0);
  const stepWorst = (s: ResolvedStep): number =>
    s.kind === 'lambda' ? task(s.name) : s.kind === 'parallel' ? Math.max(...s.branches.map(chain)) : Math.ceil(s.maxItems / s.maxConcurrency) * chain(s.steps);

  test('every step state carries the throttle retrier and the LambdaInvoke service retrier (MaxAttempts 6)', () => {
    const lambdaSteps = job.steps.flatMap((s) => (s.kind === 'lambda' ? [s] : s.kind === 'parallel' ? s.branches.flat() : s.steps));
    for (const s of lambdaSteps) {
      const r = states.get(s.name)!.Retry ?? [];
      expect(r.find((x) => x.ErrorEquals.includes('Lambda.TooManyRequestsException'))).toMatchObject({ MaxAttempts: THROTTLE_RETRY.maxAttempts });
      expect(r.find((x) => x.ErrorEquals.includes('Lambda.ServiceException'))).toMatchObject({ MaxAttempts: LAMBDA_SERVICE_RETRY.maxAttempts, IntervalSeconds: LAMBDA_SERVICE_RETRY.intervalSeconds });
    }
  });

  test('the execution timeout is at least the worst case of its steps with every retrier (throttling included)', () => {
    const worst = job.steps.reduce((n, s) => n + stepWorst(s), 0);
    // Sustained throttling alone (40 throttled attempts, ~18 minutes of waits) per step, for scale.
    expect(worst).toBeGreaterThan(job.steps.length * 1000);
    expect((definition as { TimeoutSeconds?: number }).TimeoutSeconds).toBe(job.executionTimeoutSeconds);
    expect(job.executionTimeoutSeconds).toBeGreaterThanOrEqual(Math.min(worst, 31_536_000));
  });
});
