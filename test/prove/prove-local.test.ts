/**
 * `scheduled-jobs prove` against a live local stage (local/live-stage.ts): the synthesized sandbox
 * stack with its proof job, executions run by the synthesized definition with the real handlers,
 * reached only through AWS_ENDPOINT_URL_*. Every scenario must PASS.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli } from '../../cli/main';
import { LiveStage, startLiveStage } from '../../local/live-stage';
import { sandboxConfig } from './sandbox-config';

// Generous: a scenario takes a second or two here, but CI machines are shared and a slow run must not read as a FAIL.
jest.setTimeout(240_000);

let stage: LiveStage;
beforeAll(async () => {
  stage = await startLiveStage({ config: sandboxConfig, stage: 'local', projectRoot: resolve(__dirname, '..', '..') });
});
afterAll(async () => stage?.stop());

test('every scenario passes against the live local stage, with evidence, and nothing of the run is left in the spool', async () => {
  let out = '';
  const html = join(mkdtempSync(join(tmpdir(), 'prove-')), 'report.html');
  const code = await runCli(['prove', '--stage', 'local', '--json', '--poll-ms', '50', '--wait-seconds', '60', '--settle-seconds', '0', '--html', html], { out: (s) => void (out += s), err: (s) => void (out += s) }, {
    config: sandboxConfig,
    env: process.env,
  });
  const report = JSON.parse(out) as { failed: number; runId: string; estimatedCostUsd: number | null; scenarios: Array<{ scenario: string; pass: boolean; checks: unknown[]; evidence: Record<string, unknown>; error?: string }> };
  // Priced by the cost model before the run (cli/prove/cost.ts): cents, not dollars.
  expect(report.estimatedCostUsd).toBeGreaterThan(0.001);
  expect(report.estimatedCostUsd).toBeLessThan(1);
  const failing = report.scenarios.filter((s) => !s.pass);
  expect(failing).toEqual([]);
  expect(code).toBe(0);
  expect(report.scenarios.map((s) => s.scenario)).toEqual(['succeed', 'transient', 'replay', 'stop', 'timeout', 'hold', 'duplicate', 'oversize', 'lost-tasks', 'alarms']);
  for (const s of report.scenarios.filter((x) => !['lost-tasks', 'alarms'].includes(x.scenario))) expect(JSON.stringify(s.evidence)).toContain(report.runId);
  await stage.idle();
  // Cleanup: no message of the run stays in the spool (replayed or deleted by the prover).
  const spoolUrl = stage.cfn.stacks.get(stage.stackName)!.outputs.find((o) => o.OutputKey === 'OperatorSpoolQueueUrl')!.OutputValue;
  const spool = await stage.sqs.inspectQueue(spoolUrl.split('/').pop()!);
  expect(spool.all.filter((m) => m.body.includes(report.runId))).toEqual([]);
  // The alarm went through the topic to the prover's subscription, which is gone with its queue; the alarm is OK again.
  const alarms = report.scenarios.find((s) => s.scenario === 'alarms')!;
  expect(stage.sns.published.map((p) => p.messageId)).toContain(alarms.evidence.notification);
  expect([...stage.sns.topics.values()].flat()).toEqual([]);
  expect(stage.cloudWatch.alarms.get(String(alarms.evidence.alarm))?.StateValue).toBe('OK');
  // The lost-task query ran on Athena (its execution id is the evidence).
  const lost = report.scenarios.find((s) => s.scenario === 'lost-tasks')!;
  expect(lost.evidence.queryExecution).toHaveLength(2);
  expect(stage.athena.started.length).toBeGreaterThanOrEqual(1);
  // The HTML report says the same, on the report page (the offline report's renderer) read from the stage after the
  // run: its saved queries count the run's proof tasks, and none of them is lost.
  const page = readFileSync(html, 'utf8');
  expect(page).toContain(report.runId);
  expect(page.match(/<h2 class="ok">PASS /g)).toHaveLength(10);
  expect(page).not.toContain('could not be read after the run');
  expect(page).toMatch(/<h2>Saved Athena queries<\/h2>/);
  expect(page).toMatch(/<tr><th>proof<\/th><td>[1-9]\d*<\/td>/);
});
