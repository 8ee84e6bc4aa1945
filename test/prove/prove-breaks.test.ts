/**
 * The prover catches what it claims to: against a live local stage with the capture's events
 * dropped, a reprocess that ignores where to resume and steps without their hold check, exactly the
 * matching scenarios FAIL (stop and timeout; replay; hold) and the command ends non-zero.
 */
import { resolve } from 'node:path';
import { runCli } from '../../cli/main';
import { LiveStage, startLiveStage } from '../../local/live-stage';
import { sandboxConfig } from './sandbox-config';

// Under the break the capture never spools: stop and timeout each wait --wait-seconds for their message in vain.
// 30 s (three times the execution timeout) so a CPU-starved CI machine still sees the timeout end TIMED_OUT.
jest.setTimeout(300_000);

let stage: LiveStage;
beforeAll(async () => {
  stage = await startLiveStage({
    config: sandboxConfig,
    stage: 'local',
    projectRoot: resolve(__dirname, '..', '..'),
    // Shorter than the default so the test waits less; --wait-seconds stays above it (timeout must be seen TIMED_OUT).
    executionTimeoutSeconds: 10,
    breaks: { dropStatusEvents: true, ignoreResume: true, ignoreHolds: true },
  });
});
afterAll(async () => stage?.stop());

test('breaking the capture, the resume and the hold fails exactly the matching scenarios', async () => {
  let out = '';
  const code = await runCli(['prove', '--stage', 'local', '--json', '--poll-ms', '50', '--wait-seconds', '30', '--scenario', 'succeed,replay,stop,timeout,hold'], { out: (s) => void (out += s), err: (s) => void (out += s) }, {
    config: sandboxConfig,
    env: process.env,
  });
  const report = JSON.parse(out) as { scenarios: Array<{ scenario: string; pass: boolean; error?: string; checks: Array<{ check: string; ok: boolean }> }> };
  const verdict = Object.fromEntries(report.scenarios.map((s) => [s.scenario, s.pass]));
  expect(verdict).toEqual({ succeed: true, replay: false, stop: false, timeout: false, hold: false });
  expect(code).toBe(1);
  // A scenario that threw (a wait that ran out on a loaded machine) shows its error here, not an empty list.
  const failed = (name: string) => {
    const s = report.scenarios.find((x) => x.scenario === name)!;
    return [...s.checks.filter((c) => !c.ok).map((c) => c.check), ...(s.error ? [`error: ${s.error}`] : [])];
  };
  expect(failed('stop')).toEqual(['the capture spooled the task']);
  expect(failed('timeout')).toEqual(['the capture spooled the task']);
  expect(failed('replay').join('\n')).toMatch(/resumed at ProofAct/);
  expect(failed('hold').join('\n')).toMatch(/no call reached proof-dependency while held/);
  expect(stage.statusEvents.dropped).toBeGreaterThan(0);
});
