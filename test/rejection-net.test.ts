/**
 * The in-band safety net (test/support/node-environment.js): a promise that rejects between two test files
 * fails the next file, with the origin's stack, and does not crash the process that runs the rest.
 * Runs jest itself, in band, on two scratch files; the second file's environment setup is slowed so that
 * the first file's late rejection falls where no jest-circus listener is installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

jest.setTimeout(60_000);

const ROOT = resolve(__dirname, '..');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rejection-net-'));
  // The net's environment with a slow setup: the window between two files made 3 s wide. The first file's
  // promise rejects 1 s after its only (trivial) test ran: after that file's run, well inside the window.
  writeFileSync(
    join(dir, 'slow-env.js'),
    `const Net = require(${JSON.stringify(join(ROOT, 'test/support/node-environment.js'))});
module.exports = class extends Net { async setup() { await super.setup(); await new Promise((r) => setTimeout(r, 3000)); } };`,
  );
  writeFileSync(
    join(dir, 'sequencer.js'),
    `const Sequencer = require(${JSON.stringify(require.resolve('@jest/test-sequencer', { paths: [ROOT] }))}).default;
module.exports = class extends Sequencer { sort(tests) { return [...tests].sort((a, b) => a.path.localeCompare(b.path)); } };`,
  );
  writeFileSync(
    join(dir, 'a.test.js'),
    `test('leaves a promise that rejects after this file has finished', () => {
  const p = new Promise((_, reject) => setTimeout(() => reject(new Error('late rejection from a.test.js')), 1000));
  if (process.env.CATCH_LATE) setTimeout(() => p.catch(() => undefined), 1500);
});`,
  );
  writeFileSync(join(dir, 'b.test.js'), `test('passes on its own', () => expect(1).toBe(1));`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runJest(env: Record<string, string> = {}) {
  const config = { rootDir: dir, testEnvironment: join(dir, 'slow-env.js'), testSequencer: join(dir, 'sequencer.js'), transform: {}, testMatch: ['**/*.test.js'] };
  const r = spawnSync(process.execPath, [require.resolve('jest/bin/jest', { paths: [ROOT] }), '--runInBand', '--ci', '--config', JSON.stringify(config), '--json'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 50_000,
  });
  if (!r.stdout.trim().startsWith('{')) throw new Error(`jest ended without its report (exit ${r.status}, a crash?):\n${r.stderr.slice(-2000)}`);
  const results = JSON.parse(r.stdout) as { testResults: Array<{ name: string; status: string; message: string; assertionResults: Array<{ status: string }> }> };
  const byFile = (f: string) => results.testResults.find((t) => t.name.endsWith(f))!;
  return { code: r.status, stderr: r.stderr, a: byFile('a.test.js'), b: byFile('b.test.js') };
}

test('a rejection between files fails the next file (whose tests still run) with its stack, and the run exits 1 instead of crashing', () => {
  const r = runJest();
  expect(r.stderr).not.toContain('triggerUncaughtException');
  expect(r.a.status).toBe('passed');
  expect(r.b.status).toBe('failed');
  expect(r.b.message).toContain("A promise rejected outside any test file's run");
  expect(r.b.message).toContain('late rejection from a.test.js');
  expect(r.b.assertionResults.map((t) => t.status)).toEqual(['passed']);
  expect(r.code).toBe(1);
});

test('a rejection caught after all fails nothing', () => {
  const r = runJest({ CATCH_LATE: '1' });
  expect([r.a.status, r.b.status]).toEqual(['passed', 'passed']);
  expect(r.code).toBe(0);
});
