import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';

/**
 * The docs cannot drift from the repository or from the alarms the stack creates:
 * - every relative link of docs/*.md and README.md names a file of the repository (and, for a
 *   Markdown file, a heading that exists);
 * - every alarm of the synthesized dev stage has exactly one row in docs/runbook.md, and every row
 *   there is some alarm's;
 * - every doc a deployed description (alarm, stack output) points to exists.
 */

const root = resolve(__dirname, '..');
const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (file: string) => readFileSync(join(root, file), 'utf8');

/** Markdown without fenced code blocks (links and headings there are not links and headings). */
function withoutFences(md: string): string {
  return md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/** GitHub's heading anchor: lowercase, punctuation dropped, each space a hyphen (github-slugger). */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a Markdown file offers: its headings' slugs, numbered when repeated as GitHub does. */
function anchorsOf(md: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of withoutFences(md).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Inline links and images `[text](target)` outside code. */
function linksOf(md: string): string[] {
  const prose = withoutFences(md).replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/!?\[(?:[^\][]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
}

test('slugs follow GitHub: punctuation and backticks dropped, spaces kept one for one', () => {
  expect(slug('The summary (out.json)')).toBe('the-summary-outjson');
  expect(slug("Holds (planned maintenance, an operator's switch)")).toBe('holds-planned-maintenance-an-operators-switch');
  expect(slug('`status`: what is failing')).toBe('status-what-is-failing');
  expect(slug('Schedules — and ticks')).toBe('schedules--and-ticks');
  expect([...anchorsOf('# A\n## A\n```\n# not a heading\n```\n## B c\n')]).toEqual(['a', 'a-1', 'b-c']);
});

describe.each(docs)('%s', (file) => {
  const md = read(file);

  test('every relative link resolves to a file of the repository, and to a heading of a Markdown file', () => {
    const broken: string[] = [];
    for (const target of linksOf(md)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [path, anchor] = target.split('#', 2);
      const resolved = path === '' ? join(root, file) : resolve(dirname(join(root, file)), decodeURIComponent(path));
      if (path.startsWith('/') || relative(root, resolved).startsWith('..')) {
        broken.push(`${target}: outside the repository`);
        continue;
      }
      if (!existsSync(resolved)) {
        broken.push(`${target}: no such file`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
        broken.push(`${target}: no heading with anchor #${anchor}`);
      }
    }
    expect(broken).toEqual([]);
  });

  test('names no file outside the repository', () => {
    expect(md.match(/\/work\/[^\s)`'"]*/g) ?? []).toEqual([]);
  });
});

describe('the dev stage as deployed', () => {
  const config = resolveConfig(fixtureConfig, { stage: 'dev', fileExists: (p) => existsSync(join(root, p)) });
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, `ScheduledJobs-${config.stage}`, { config, projectRoot: root });
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    Outputs?: Record<string, { Description?: string }>;
  };
  const alarms = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');

  /** The runbook's alarm ids: the first code span of each row of its "Alarms" table. */
  const runbook = read('docs/runbook.md');
  const section = runbook.split(/^## /m).find((s) => s.startsWith('Alarms\n')) ?? '';
  const rows = section
    .split('\n')
    .filter((l) => /^\|\s*`/.test(l))
    .map((l) => /^\|\s*`([^`]+)`/.exec(l)![1]);
  const patternOf = (id: string) => new RegExp(`^${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/<[A-Za-z]+>/g, '[A-Za-z0-9]+')}$`);

  test('the runbook has an alarm table, each id once', () => {
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.filter((r, i) => rows.indexOf(r) !== i)).toEqual([]);
  });

  test('every alarm of the stack has exactly one row in docs/runbook.md (by its logical id without the hash)', () => {
    expect(alarms.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const [logicalId] of alarms) {
      const id = logicalId.replace(/[0-9A-F]{8}$/, '');
      if (id === logicalId) problems.push(`${logicalId}: no 8-character hash at the end`);
      const matching = rows.filter((r) => patternOf(r).test(id));
      if (matching.length !== 1) problems.push(`${id}: ${matching.length === 0 ? 'no row' : `rows ${matching.join(', ')}`}`);
    }
    expect(problems).toEqual([]);
  });

  test('every row of the runbook\'s alarm table is an alarm of the stack', () => {
    const ids = alarms.map(([logicalId]) => logicalId.replace(/[0-9A-F]{8}$/, ''));
    expect(rows.filter((r) => !ids.some((id) => patternOf(r).test(id)))).toEqual([]);
  });

  test('every doc an alarm or a stack output points to exists', () => {
    const texts = [
      ...alarms.map(([, r]) => String(r.Properties?.AlarmDescription ?? '')),
      ...Object.values(template.Outputs ?? {}).map((o) => o.Description ?? ''),
    ];
    const named = [...new Set(texts.flatMap((t) => t.match(/docs\/[\w.-]+\.md/g) ?? []))];
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((d) => !existsSync(join(root, d)))).toEqual([]);
  });
});

describe('README "Adding a job"', () => {
  // The example a new team copies first: if the config types or their validation change, the
  // example must change with them.
  const section = read('README.md').split(/^## /m).find((s) => s.startsWith('Adding a job\n')) ?? '';
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1] ?? '';

  test('the job example is valid config: validation accepts it beside the shipped jobs, with its map, group, exclusive key and dependency', () => {
    expect(code).not.toBe('');
    const job = new Function(`return (${code});`)() as (typeof fixtureConfig.jobs)[number];
    const resolved = resolveConfig(
      { ...fixtureConfig, dependencies: { ...fixtureConfig.dependencies, 'orders-api': {} }, jobs: [...fixtureConfig.jobs, job] },
      // The snippet's errors module, as the job author would write it (synth loads it).
      { allJobs: true, fileExists: () => true, loadModule: (p) => (p === job.errors ? { ExternalApiUnavailableError: class ExternalApiUnavailableError extends Error {} } : require(`../${p}`)) },
    );
    const added = resolved.jobs.find((j) => j.name === job.name);
    expect(added).toBeDefined();
    expect(added!.exclusiveBy).toBe('account');
    expect(added!.steps.map((s) => s.name)).toEqual(['List', 'EachOrder', 'Report']);
  });
});
