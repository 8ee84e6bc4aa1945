import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ts from 'typescript';
import { insertJobEntry, planNewJob } from '../cli/commands/new-job';
import { configEntry, configEntryValue, jobNames, pascalCase } from '../cli/commands/new-job-template';
import { plannedModuleLoader } from '../cli/commands/planned-modules';
import { runCli } from '../cli/main';
import { AppConfig } from '../lib/config/types';
import { declaredErrorNames } from '../lib/config/job-contracts';
import { resolveConfig } from '../lib/config/validate';
import * as exampleApiErrors from '../lambdas/jobs/example-api/errors';
import { TransientError } from '../lambdas/shared/errors';
import { fixtureConfig } from './support/fixture-config';

/**
 * `npx scheduled-jobs new-job <name>`: refuses what it must, edits the config text safely, and what
 * it writes (into a copy of the project) passes its own test and type-checks.
 */
const root = resolve(__dirname, '..');

async function cli(args: string[], projectRoot: string, config: AppConfig = fixtureConfig) {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) }, { config, projectRoot });
  return { code, out, err };
}

/** Evaluates a config module's text (its one import is type-only) and returns `appConfig`. */
function evalConfig(text: string): AppConfig {
  const js = ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  const module = { exports: {} as { appConfig?: AppConfig } };
  new Function('module', 'exports', 'require', js)(module, module.exports, () => ({}));
  return module.exports.appConfig!;
}

const configText = (jobs: string) => `import { AppConfig } from '../lib/config/types';

export const appConfig: AppConfig = {
  timeZone: 'Asia/Tokyo',
  jobs: ${jobs},
  defaultStage: 'dev',
} as unknown as AppConfig;
`;

test('job names: as the config wants them, classes in PascalCase', () => {
  expect(pascalCase('invoice-reminder')).toBe('InvoiceReminder');
  expect(jobNames('invoice-reminder')).toMatchObject({ dir: 'lambdas/jobs/invoice-reminder', upstreamError: 'InvoiceReminderUpstreamUnavailableError', invalidError: 'InvoiceReminderInvalidItemError' });
});

test.each(['Demo', '1job', 'a--b', 'ends-', 'under_score', 'x'.repeat(33), ''])('refuses the name %p with the rule, exit 2, writing nothing', async (name) => {
  const r = await cli(['new-job', name], root);
  expect(r.code).toBe(2);
  expect(r.err).toBe(`Error: "${name}" is not a job name\nUse lowercase letters, digits and single dashes, starting with a letter, at most 32 characters, e.g. invoice-reminder.\n`);
});

test('refuses a job the config has, and a folder that exists although the config does not name it', async () => {
  expect((await cli(['new-job', 'example-api'], root)).err).toBe('Error: Job "example-api" already exists in bin/config.ts\nPick another name, or edit that job.\n');
  const withoutIt = { ...fixtureConfig, jobs: fixtureConfig.jobs.filter((j) => j.name !== 'example-api'), stages: { dev: { jobs: { 'example-fanout': { deploy: true } } } } };
  const r = await cli(['new-job', 'example-api'], root, withoutIt);
  expect(r.code).toBe(2);
  expect(r.err).toContain('Error: lambdas/jobs/example-api already exists');
});

test('the check before writing loads planned modules from their sources: imports of planned neighbours from memory, the rest from the project', () => {
  const dir = 'lambdas/jobs/planned-only';
  const load = plannedModuleLoader(root, [
    { path: `${dir}/errors.ts`, text: "import { TransientError } from '../../shared/errors';\nexport class PlannedDownError extends TransientError {}\n" },
    { path: `${dir}/params.ts`, text: "import { z } from 'zod';\nimport { MAX } from './limits';\nexport const schema = z.object({ n: z.number().max(MAX) });\nexport const version = 2;\n" },
    { path: `${dir}/limits.ts`, text: 'export const MAX = 3;\n' },
  ]);
  const errors = load(`${dir}/errors.ts`) as Record<string, new (m: string) => Error>;
  expect(declaredErrorNames(errors)).toEqual(['PlannedDownError']);
  expect(new errors.PlannedDownError('x')).toBeInstanceOf(TransientError); // the project's platform class, not a copy
  const params = load(`${dir}/params.ts`) as typeof import('../lambdas/jobs/example-api/params');
  expect(params.version).toBe(2);
  expect([params.schema.safeParse({ n: 3 }).success, params.schema.safeParse({ n: 4 }).success]).toEqual([true, false]);
  expect(load('lambdas/jobs/example-api/errors.ts')).toBe(exampleApiErrors);
  expect(existsSync(join(root, dir))).toBe(false);
});

describe('the entry added to the config text', () => {
  const entry = (indent: string) => configEntry(jobNames('demo'), indent);

  test('the text is the same data the job was validated as', () => {
    const text = insertJobEntry(configText('[]'), entry);
    expect(evalConfig(text).jobs).toEqual([configEntryValue(jobNames('demo'))]);
  });

  test.each([
    ['after a trailing comma', "[\n    { name: 'a' },\n  ]", ['a', 'demo']],
    ['with no trailing comma, a comment after the last job', "[\n    { name: 'a' } // the first\n  ]", ['a', 'demo']],
    ['into an empty array', '[]', ['demo']],
    ['into an empty array over lines', '[\n  ]', ['demo']],
  ])('appends the job %s, keeping the others and the comments', (_label, jobs, names) => {
    const before = configText(jobs);
    const after = insertJobEntry(before, entry);
    expect(evalConfig(after).jobs.map((j) => j.name)).toEqual(names);
    if (jobs.includes('// the first')) expect(after).toContain('// the first');
    expect(after.startsWith("import { AppConfig } from '../lib/config/types';\n\nexport const appConfig: AppConfig = {\n  timeZone: 'Asia/Tokyo',\n  jobs: [")).toBe(true);
    expect(after.endsWith("  defaultStage: 'dev',\n} as unknown as AppConfig;\n")).toBe(true);
  });

  test('a file without one config `jobs` array is refused, and the CLI prints the entry to add by hand', () => {
    expect(() => insertJobEntry("export const x = { other: [] };\n", entry)).toThrow(/has no `jobs: \[\.\.\.\]` array/);
    const dir = mkdtempSync(join(tmpdir(), 'new-job-nojobs-'));
    try {
      mkdirSync(join(dir, 'bin'));
      // A project but for its config: the jobs' errors and params modules load (they import lambdas/shared and zod).
      cpSync(join(root, 'lambdas'), join(dir, 'lambdas'), { recursive: true });
      symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
      writeFileSync(join(dir, 'bin', 'config.ts'), 'export const appConfig = loadFromSomewhere();\n');
      expect(() => planNewJob('demo', { config: fixtureConfig, projectRoot: dir })).toThrow(expect.objectContaining({ message: expect.stringContaining('Cannot add the job to bin/config.ts'), hint: expect.stringContaining("name: 'demo',") }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('scaffolded into a copy of the project', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'new-job-'));
    for (const d of ['bin', 'lib', 'lambdas', 'local']) cpSync(join(root, d), join(dir, d), { recursive: true });
    for (const f of ['tsconfig.json', 'jest.config.js', 'package.json']) cpSync(join(root, f), join(dir, f));
    mkdirSync(join(dir, 'test', 'support'), { recursive: true });
    for (const f of ['summary-reporter.js', 'node-environment.js']) cpSync(join(root, 'test', 'support', f), join(dir, 'test', 'support', f));
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    // The copy's config is the fixture (the real bin/config.ts is the team's), as its source text.
    writeFileSync(join(dir, 'bin', 'config.ts'), `import { AppConfig } from '../lib/config/types';\n\nexport const appConfig: AppConfig = ${JSON.stringify(fixtureConfig, null, 2)};\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('--dry-run prints every file and the entry, and writes nothing', async () => {
    const before = readFileSync(join(dir, 'bin', 'config.ts'), 'utf8');
    const r = await cli(['new-job', 'demo', '--dry-run'], dir);
    expect(r.code).toBe(0);
    for (const f of ['params.ts', 'errors.ts', 'logic.ts', 'producer.ts', 'prepare.ts', 'deliver.ts', 'stubs.ts']) expect(r.out).toContain(`--- would write lambdas/jobs/demo/${f}\n`);
    expect(r.out).toContain('--- would write test/jobs/demo.test.ts\n');
    expect(r.out).toContain("--- would add to `jobs` in bin/config.ts:\n    {\n      name: 'demo',");
    expect(r.out).toContain("      errors: 'lambdas/jobs/demo/errors.ts',\n");
    expect(r.out).toContain("      params: { schema: 'lambdas/jobs/demo/params.ts' },\n");
    expect(r.out).toContain("      // exclusiveBy: 'itemId',");
    expect(existsSync(join(dir, 'lambdas', 'jobs', 'demo'))).toBe(false);
    expect(readFileSync(join(dir, 'bin', 'config.ts'), 'utf8')).toBe(before);
  });

  test('writes the job and its entry; the new config validates with the job\'s files', async () => {
    const r = await cli(['new-job', 'demo'], dir);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('added job demo to bin/config.ts');
    expect(r.out).toContain("Next:\n  npx jest test/jobs/demo.test.ts   the job's own test\n  npx scheduled-jobs local demo     one tick offline");
    const config = evalConfig(readFileSync(join(dir, 'bin', 'config.ts'), 'utf8'));
    expect(config.jobs.map((j) => j.name)).toEqual(['example-api', 'example-fanout', 'demo']);
    // The job's contracts, as synth checks them, on the files as written (required from the copy).
    const resolved = resolveConfig(config, { allJobs: true, fileExists: (p) => existsSync(join(dir, p)), loadModule: (p) => require(join(dir, p)) });
    const demo = resolved.jobs.find((j) => j.name === 'demo')!;
    expect(demo.steps.map((s) => s.name)).toEqual(['Prepare', 'Deliver']);
    expect(demo.errors).toBe('lambdas/jobs/demo/errors.ts');
    expect(demo.params).toEqual({ schema: 'lambdas/jobs/demo/params.ts', version: 1 });
    expect(demo.exclusiveBy).toBeNull();
    // Run again: refused, nothing overwritten.
    const again = await cli(['new-job', 'demo'], dir, config);
    expect(again.code).toBe(2);
    expect(again.err).toContain('Job "demo" already exists');
  });

  test('the generated test passes as generated (jest, in the copy)', () => {
    const jest = join(root, 'node_modules', 'jest', 'bin', 'jest.js');
    const r = spawnSync(process.execPath, [jest, '--ci', '--rootDir', dir, 'test/jobs/demo.test.ts'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(`${r.stdout}${r.stderr}`).toMatch(/Tests:\s+5 passed, 5 total/);
    expect(r.status).toBe(0);
  }, 150_000);

  test('the generated files and the edited config type-check (tsc rules of the project)', () => {
    const parsed = ts.parseJsonConfigFileContent(JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8')), ts.sys, dir);
    const files = ['params', 'errors', 'logic', 'producer', 'prepare', 'deliver', 'stubs'].map((f) => join(dir, 'lambdas', 'jobs', 'demo', `${f}.ts`));
    const program = ts.createProgram([...files, join(dir, 'test', 'jobs', 'demo.test.ts'), join(dir, 'bin', 'config.ts')], { ...parsed.options, noEmit: true });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
    expect(problems).toEqual([]);
  }, 120_000);
});
