import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AppConfig, JobConfig } from '../../lib/config/types';
import { ConfigError, resolveConfig } from '../../lib/config/validate';
import { UsageError } from '../errors';
import { CliIo } from '../io';
import { configEntry, configEntryValue, GeneratedFile, jobFiles, jobNames } from './new-job-template';
import { plannedModuleLoader } from './planned-modules';

/** Options of `new-job <name>`. */
export interface NewJobOptions {
  /** Print what would be written; write nothing. */
  readonly dryRun?: boolean;
}

/** Where `new-job` writes, and the config it checks the new job against. */
export interface NewJobDeps {
  /** The loaded app config (bin/config.ts as imported). */
  readonly config: AppConfig;
  /** @default the project this CLI belongs to */
  readonly projectRoot?: string;
  /** The config file to add the job to, relative to the project root. @default bin/config.ts */
  readonly configFile?: string;
}

/** The job-name rule of the config (lib/config/validate.ts). */
const JOB_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * The config source with `entry(indent)` appended to the `jobs: [...]` array of its object literal.
 * Parsed with the TypeScript compiler (a devDependency, as tsx is): comments and formatting of
 * everything else stay as they are. Throws when the file has no (or more than one) `jobs` array.
 */
export function insertJobEntry(source: string, entry: (indent: string) => string, fileName = 'bin/config.ts'): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const arrays: import('typescript').ArrayLiteralExpression[] = [];
  const visit = (node: import('typescript').Node): void => {
    if (ts.isPropertyAssignment(node) && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name)) && node.name.text === 'jobs' && ts.isArrayLiteralExpression(node.initializer) && ts.isObjectLiteralExpression(node.parent)) {
      // The config object itself: `const appConfig = { ... }`, also through `as` / `satisfies` / parentheses.
      let up: import('typescript').Node = node.parent.parent;
      while (ts.isAsExpression(up) || ts.isSatisfiesExpression(up) || ts.isParenthesizedExpression(up)) up = up.parent;
      if (ts.isVariableDeclaration(up)) arrays.push(node.initializer);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  if (arrays.length !== 1) throw new Error(`${fileName} has ${arrays.length === 0 ? 'no' : 'more than one'} \`jobs: [...]\` array in its config object`);
  const arr = arrays[0];
  const lineStart = source.lastIndexOf('\n', arr.parent.getStart(sf)) + 1;
  const baseIndent = /^\s*/.exec(source.slice(lineStart))![0];
  const elementIndent = `${baseIndent}  `;
  let text = source;
  let close = arr.getEnd() - 1; // the `]`
  const last = arr.elements[arr.elements.length - 1];
  if (last && !arr.elements.hasTrailingComma) {
    text = `${text.slice(0, last.getEnd())},${text.slice(last.getEnd())}`;
    close += 1;
  }
  const head = text.slice(0, close).replace(/\s*$/, '');
  const out = `${head}\n${entry(elementIndent)}\n${baseIndent}${text.slice(close)}`;
  const check = ts.transpileModule(out, { reportDiagnostics: true, fileName });
  if ((check.diagnostics ?? []).length > 0) throw new Error(`adding the entry would break ${fileName}: ${ts.flattenDiagnosticMessageText(check.diagnostics![0].messageText, ' ')}`);
  return out;
}

/** What `new-job` would do: the files and the new config text. */
export interface NewJobPlan {
  readonly files: GeneratedFile[];
  readonly configFile: string;
  readonly configText: string;
  readonly entryText: string;
}

/**
 * Checks the name and the project, validates the new job beside the configured ones; writes nothing.
 * The validation loads the job's planned errors and params modules from their generated sources (the
 * contract checks synth runs need them), and every other job's from the project.
 */
export function planNewJob(name: string, deps: NewJobDeps): NewJobPlan {
  const root = deps.projectRoot ?? resolve(__dirname, '..', '..');
  const configFile = deps.configFile ?? 'bin/config.ts';
  if (!JOB_NAME.test(name) || name.endsWith('-') || name.includes('--')) {
    throw new UsageError(`"${name}" is not a job name`, 'Use lowercase letters, digits and single dashes, starting with a letter, at most 32 characters, e.g. invoice-reminder.');
  }
  const n = jobNames(name);
  if (deps.config.jobs.some((j) => j.name === name)) throw new UsageError(`Job "${name}" already exists in ${configFile}`, 'Pick another name, or edit that job.');
  const files = jobFiles(n);
  const taken = [n.dir, ...files.map((f) => f.path)].filter((p) => existsSync(join(root, p)));
  if (taken.length > 0) throw new UsageError(`${taken[0]} already exists`, `Pick another name, or move ${taken[0]} away first: new-job never overwrites.`);
  const value = configEntryValue(n) as JobConfig;
  const planned = new Set(files.map((f) => f.path));
  try {
    resolveConfig(
      { ...deps.config, jobs: [...deps.config.jobs, value] },
      { allJobs: true, fileExists: (p) => planned.has(p) || existsSync(join(root, p)), loadModule: plannedModuleLoader(root, files) },
    );
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`The new job does not validate beside the configured ones: ${e.message}`, `Fix ${configFile} first (\`npx cdk synth\` lists the same problems).`);
    throw e;
  }
  const path = join(root, configFile);
  if (!existsSync(path)) throw new UsageError(`${configFile} does not exist`, 'Run new-job in the project folder (where bin/config.ts is).');
  let configText: string;
  try {
    configText = insertJobEntry(readFileSync(path, 'utf8'), (indent) => configEntry(n, indent), configFile);
  } catch (e) {
    throw new UsageError(`Cannot add the job to ${configFile}: ${(e as Error).message}`, `Add this entry to \`jobs\` by hand:\n${configEntry(n, '    ')}`);
  }
  return { files, configFile, configText, entryText: configEntry(n, '    ') };
}

/**
 * `npx scheduled-jobs new-job <name>`: scaffolds lambdas/jobs/<name>/ (producer, steps Prepare and
 * Deliver, params schema, typed errors, offline stubs) and test/jobs/<name>.test.ts, and adds the job to
 * bin/config.ts. Everything is checked before the first file is written. See docs/job-authoring.md.
 */
export async function newJob(name: string, o: NewJobOptions, io: CliIo, deps: NewJobDeps): Promise<number> {
  const plan = planNewJob(name, deps);
  const root = deps.projectRoot ?? resolve(__dirname, '..', '..');
  if (o.dryRun) {
    for (const f of plan.files) io.out(`--- would write ${f.path}\n${f.text}\n`);
    io.out(`--- would add to \`jobs\` in ${plan.configFile}:\n${plan.entryText}\n`);
    return 0;
  }
  for (const f of plan.files) {
    mkdirSync(dirname(join(root, f.path)), { recursive: true });
    writeFileSync(join(root, f.path), f.text, { flag: 'wx' });
    io.out(`wrote ${f.path}\n`);
  }
  writeFileSync(join(root, plan.configFile), plan.configText);
  const next: Array<[string, string]> = [
    [`npx jest test/jobs/${name}.test.ts`, "the job's own test"],
    [`npx scheduled-jobs local ${name}`, `one tick offline, on the stand-ins, with lambdas/jobs/${name}/stubs.ts`],
    ['npm start', `the offline day, ${name} beside the other jobs`],
  ];
  const width = Math.max(...next.map(([c]) => c.length)) + 3;
  io.out(`added job ${name} to ${plan.configFile}\n\nNext:\n${next.map(([c, what]) => `  ${c.padEnd(width)}${what}\n`).join('')}See docs/job-authoring.md.\n`);
  return 0;
}
