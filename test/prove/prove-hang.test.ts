/**
 * A scenario whose handler waits on something that never answers FAILs and the command ends: against
 * a live local stage whose KMS accepts and never answers, the producer's Invoke (which reprocess makes
 * for a tick re-run) ends at its capped timeout, as Lambda's does, instead of leaving `prove` waiting forever.
 */
import { resolve } from 'node:path';
import { runCli } from '../../cli/main';
import { LiveStage, startLiveStage } from '../../local/live-stage';
import { sandboxConfig } from './sandbox-config';

jest.setTimeout(120_000);

let stage: LiveStage;
beforeAll(async () => {
  stage = await startLiveStage({
    config: sandboxConfig,
    stage: 'local',
    projectRoot: resolve(__dirname, '..', '..'),
    invokeTimeoutSeconds: 2,
    breaks: { unansweredKms: true },
  });
});
afterAll(async () => stage?.stop());

test('a handler that never gets an answer makes the scenario FAIL with the Lambda timeout, and prove ends', async () => {
  let out = '';
  const started = Date.now();
  const code = await runCli(['prove', '--stage', 'local', '--json', '--poll-ms', '50', '--wait-seconds', '5', '--scenario', 'succeed'], { out: (s) => void (out += s), err: (s) => void (out += s) }, {
    config: sandboxConfig,
    env: process.env,
  });
  const report = JSON.parse(out) as { scenarios: Array<{ scenario: string; pass: boolean; durationMs: number; checks: Array<{ check: string; ok: boolean }> }> };
  expect(report.scenarios.map((s) => [s.scenario, s.pass])).toEqual([['succeed', false]]);
  // The producer's Invoke (nested in reprocess's) timed out: reprocess reports no producer answer, nothing started.
  expect(report.scenarios[0].checks).toEqual([
    { check: 'the producer planned the tick', ok: false, seen: 'null' },
    { check: 'the execution SUCCEEDED', ok: false, seen: 'MISSING' },
  ]);
  expect(code).toBe(1);
  // Ended by the invoke's timeout (2 s, then the 5 s wait for the execution), not by the test's; the
  // command's own time also holds the cost model's synth before the run.
  expect(report.scenarios[0].durationMs).toBeLessThan(20_000);
  expect(Date.now() - started).toBeLessThan(60_000);
});
