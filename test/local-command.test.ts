import { resolve } from 'node:path';
import { LocalResult, renderLocal } from '../cli/commands/local';
import { runCli } from '../cli/main';
import { stubbedConfig } from './support/stubbed-jobs';

/**
 * `npx scheduled-jobs local <job>`: arguments checked before anything runs, then one tick of the
 * job on the offline stand-ins with its stubs.ts (one offline run per process: the last test).
 */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) }, { config: stubbedConfig, projectRoot: resolve(__dirname, '..') });
  return { code, out, err };
}

test('--help lists local and new-job beside the operator commands', async () => {
  const r = await cli(['--help']);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^\s+local \[options\] <job>/m);
  expect(r.out).toMatch(/^\s+new-job \[options\] <name>/m);
  expect(r.out).toMatch(/^\s+replay \[options\]/m);
});

test('an unknown job or a bad --tasks is refused with exit 2, before anything runs', async () => {
  const unknown = await cli(['local', 'nope']);
  expect(unknown.code).toBe(2);
  expect(unknown.err).toBe('Error: Unknown job "nope"\nJobs in bin/config.ts: example-api, example-fanout, stubbed, unstubbed, undeclared, leak.\n');
  for (const bad of ['0', '1.5', 'many']) {
    const r = await cli(['local', 'stubbed', '--tasks', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--tasks must be an integer from 1 to 100000, got "${bad}"`);
  }
});

test('a failed tick is shown with its attempts and error names, and the result says why it failed', () => {
  const failed: LocalResult = {
    job: 'billing', ok: false, reasons: ['billing tick 2026-11-24T15:00:00Z failed (3 attempts, kept), not a fault the profile injected'], tick: '2026-11-24T15:00:00.000Z',
    tasks: 0, succeeded: 0, retries: 0, spooled: {}, quarantined: 0, lost: 0, duplicates: 0,
    failedTick: { attempts: 3, outcome: 'kept', errors: ['GetParameterError', 'GetParameterError', 'GetParameterError'] },
    stubs: { jobs: [], httpCalls: {}, unhandledHttp: [], secretReads: { 'ssm:/billing/token:missing': 9 } },
  };
  const text = renderLocal(failed);
  expect(text).toContain('  tick         FAILED after 3 attempts (GetParameterError, GetParameterError, GetParameterError), kept\n');
  expect(text).toContain('secrets ssm:/billing/token:missing 9');
  expect(text.trimEnd().split('\n').pop()).toBe('RESULT: FAILED: billing tick 2026-11-24T15:00:00Z failed (3 attempts, kept), not a fault the profile injected');
});

test('one tick of the stubbed job: its tasks, their ends and the stubs\' calls, exit 0', async () => {
  const r = await cli(['local', 'stubbed', '--tasks', '3', '--json']);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  const result = JSON.parse(r.out) as LocalResult;
  expect(result).toMatchObject({ job: 'stubbed', ok: true, reasons: [], tasks: 3, succeeded: 3, spooled: {}, quarantined: 0, lost: 0, duplicates: 0, failedTick: null });
  expect(result.stubs.httpCalls).toEqual({ 'POST https://items.example.com/v1/items': 3 });
  expect(Object.keys(result.stubs.secretReads).sort()).toEqual(['secretsmanager:stubbed/key:ok', 'ssm:/stubbed/token:ok']);
}, 120_000);
