import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { historyBudgetFindings, jobHistoryEvents, MAX_HISTORY_EVENTS } from '../lib/config/history-budget';
import { AppConfig, JobConfig } from '../lib/config/types';
import { ConfigError, resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { fixtureConfig } from './support/fixture-config';

/**
 * The history budget of maps, validated at synth (issue 17, item 7): Step Functions keeps at most
 * 25,000 events per execution (AWS Step Functions service quotas), and an inline map's iterations
 * count against it. A job whose run passes it with no retry is refused with the numbers; one that
 * passes it only with every retry used synthesizes with a warning.
 */
const L = (name: string, maxAttempts = 0) => ({ name, entry: 'lambdas/jobs/example-api/fetch.ts', timeoutSeconds: 10, retry: { maxAttempts, intervalSeconds: 1, retryableErrors: ['TransientError'] } });
const { stages: _stages, ...base } = fixtureConfig;
const withMap = (maxItems: number, itemSteps: unknown[]): AppConfig => ({
  ...base,
  jobs: [{ name: 'fan', schedule: 'cron(0 2 * * ? *)', producer: { entry: 'lambdas/jobs/example-api/producer.ts' }, steps: [L('List'), { name: 'Each', map: { maxItems, maxConcurrency: 10, steps: itemSteps } }] } as unknown as JobConfig],
});
const resolveIt = (c: AppConfig) => resolveConfig(c, { fileExists: () => true, allJobs: true });

test('the count follows the events Step Functions writes: 5 per task, 3 per retry, 2 per iteration, 4 per map', () => {
  const job = resolveIt(withMap(10, [L('A', 2), L('B')])).jobs[0];
  // Frame 19 (execution started/succeeded 2, Route 2, lock, release, record 3 x 5) + List 5 + map 4 + 10 x (2 + 5 + 5).
  expect(jobHistoryEvents(job)).toEqual({ events: 19 + 5 + 4 + 10 * 12, eventsWithRetries: 19 + 5 + 4 + 10 * (12 + 6) });
});

test('a map whose run passes 25,000 events even without retries is refused with the numbers', () => {
  // 1,000 items x (2 + 4 x 5) = 22,000, plus the frame: fine; 6 item steps: 32,000.
  expect(() => resolveIt(withMap(1000, [L('A'), L('B'), L('C'), L('D'), L('E'), L('F')]))).toThrow(ConfigError);
  expect(() => resolveIt(withMap(1000, [L('A'), L('B'), L('C'), L('D'), L('E'), L('F')]))).toThrow(/about 32028 history events with no retry.*Each: 1000 items x 32 events.*limit of 25000/);
  expect(() => resolveIt(withMap(1000, [L('A'), L('B'), L('C')]))).not.toThrow();
});

test('one that passes it only when every retry is used is allowed, with a warning at synth', () => {
  const config = resolveIt(withMap(1000, [L('A', 3), L('B', 3)]));
  const counted = jobHistoryEvents(config.jobs[0]);
  expect(counted.events).toBeLessThanOrEqual(MAX_HISTORY_EVENTS);
  expect(counted.eventsWithRetries).toBeGreaterThan(MAX_HISTORY_EVENTS);
  expect(historyBudgetFindings('job fan', config.jobs[0]).warnings).toEqual([expect.stringMatching(/12028 history events, 30028 if every step uses its retries/)]);
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'Budget', { config, projectRoot: resolve(__dirname, '..') });
  Annotations.fromStack(Stack.of(stack)).hasWarning('*', Match.stringLikeRegexp('job fan: a run writes about 12028 history events'));
});

test('the example jobs are within the budget, retries included', () => {
  for (const job of resolveIt(fixtureConfig).jobs) expect(historyBudgetFindings(job.name, job)).toEqual({ problems: [], warnings: [] });
});
