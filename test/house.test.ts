import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * House rules CI enforces on the repository itself (relative links of the docs: test/docs.test.ts):
 * - no merge-conflict markers left in any tracked text file;
 * - the shipped tests never read the config of the day (bin/config.ts), only their fixture, so a
 *   team adding or removing jobs keeps `npm test` green; test/user-config.test.ts alone covers it;
 * - the README's "Adding a job" snippets name their imports, and those imports exist.
 */

const root = resolve(__dirname, '..');
const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((f) => f !== '' && existsSync(join(root, f)));
const TEXT = /\.(ts|js|mjs|cjs|json|md|ya?ml|txt|sh|sql|html|css|cfg|toml)$|(^|\/)(\.gitignore|\.npmignore|Dockerfile)$/;

/** Lines that are a merge-conflict marker (`<<<<<<< `, `=======`, `>>>>>>> ` at the start of a line), as `file:line`. */
export function conflictMarkers(file: string, text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (/^(<{7}( |$)|={7}\s*$|>{7}( |$)|\|{7}( |$))/.test(line)) out.push(`${file}:${i + 1}: ${line.slice(0, 40)}`);
  });
  return out;
}

test('the marker check finds each kind of marker and nothing else', () => {
  const text = ['a', '<<<<<<< HEAD', 'b', '||||||| base', '=======', 'c', '>>>>>>> branch', '== not a marker', '======== eight', '<<<<<<<< eight'].join('\n');
  expect(conflictMarkers('f', text)).toEqual(['f:2: <<<<<<< HEAD', 'f:4: ||||||| base', 'f:5: =======', 'f:7: >>>>>>> branch']);
});

test('no tracked text file holds a merge-conflict marker', () => {
  const files = tracked.filter((f) => TEXT.test(f));
  expect(files.length).toBeGreaterThan(50);
  expect(files.flatMap((f) => conflictMarkers(f, readFileSync(join(root, f), 'utf8')))).toEqual([]);
});

/** Test files and test support that import bin/config (any relative path to it). */
export function importsOfAppConfig(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]((?:\.\.?\/)+bin\/config)(?:\.ts)?['"]/g)) out.push(`${file}: ${m[1]}`);
  return out;
}

test('the import check sees static, dynamic and require imports of bin/config', () => {
  // Spelled in parts, so this file does not match its own check.
  const config = ['bin', 'config'].join('/');
  expect(importsOfAppConfig('t', `import { appConfig } from '../${config}';\nconst x = await import('../../${config}');\nrequire("../${config}.ts");`)).toHaveLength(3);
  expect(importsOfAppConfig('t', "import { fixtureConfig } from './support/fixture-config';\n// bin/config.ts is yours")).toEqual([]);
});

test('no test or test support file imports bin/config.ts but test/user-config.test.ts (tests use test/support/fixture-config.ts)', () => {
  const tests = tracked.filter((f) => f.startsWith('test/') && /\.(ts|js)$/.test(f));
  expect(tests.length).toBeGreaterThan(20);
  const offenders = tests.filter((f) => f !== 'test/user-config.test.ts').flatMap((f) => importsOfAppConfig(f, readFileSync(join(root, f), 'utf8')));
  expect(offenders).toEqual([]);
});

describe('README "Adding a job"', () => {
  const section = readFileSync(join(root, 'README.md'), 'utf8').split(/^## /m).find((s) => s.startsWith('Adding a job\n')) ?? '';
  // A job's files live in lambdas/jobs/<job>/: its imports resolve from there.
  const jobDir = join(root, 'lambdas', 'jobs', 'any-job');
  const imports = [...section.matchAll(/import \{ ([^}]+) \} from '([^']+)'/g)].map((m) => ({ names: m[1].split(',').map((s) => s.trim()), from: m[2] }));

  test('names the import of each platform function its snippets call', () => {
    const named = imports.flatMap((i) => i.names);
    for (const fn of ['createProducerHandler', 'createStepHandler', 'TransientError', 'PermanentError']) {
      if (section.includes(fn)) expect(named).toContain(fn);
    }
    expect(named.length).toBeGreaterThanOrEqual(3);
  });

  test('each import exists and exports what it names, as a job file under lambdas/jobs/<job>/ would import it', () => {
    const problems: string[] = [];
    for (const imp of imports) {
      const mod = join(jobDir, imp.from);
      if (!existsSync(`${mod}.ts`)) {
        problems.push(`${imp.from}: no such module`);
        continue;
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const exported = require(mod) as Record<string, unknown>;
      for (const n of imp.names) if (typeof exported[n] !== 'function') problems.push(`${imp.from}: exports no ${n}`);
    }
    expect(problems).toEqual([]);
  });
});
