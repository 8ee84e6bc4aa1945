/**
 * The matrix cannot drift: every row of ./matrix.ts has exactly one case (`faultCase('<id>'`) in
 * the file its row names, every case has a row, and docs/fault-matrix.md and README.md show exactly the table
 * the data renders (regenerate it with `npx tsx test/fault-matrix/write-doc.ts`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAULT_MATRIX, renderMatrixTable } from './matrix';
import { DOC_PATHS, tableInDoc } from './write-doc';

const DIR = __dirname;
const caseFiles = readdirSync(DIR).filter((f) => f.endsWith('.test.ts') && f !== 'matrix.test.ts');
const cases = caseFiles.flatMap((file) => [...readFileSync(join(DIR, file), 'utf8').matchAll(/^faultCase\('([^']+)'/gm)].map((m) => ({ id: m[1], file })));

test('every row has exactly one case, in the file its row names', () => {
  const byId = new Map<string, string[]>();
  for (const c of cases) byId.set(c.id, [...(byId.get(c.id) ?? []), c.file]);
  expect(FAULT_MATRIX.map((r) => [r.id, byId.get(r.id) ?? []])).toEqual(FAULT_MATRIX.map((r) => [r.id, [r.file]]));
});

test('every case has a row (no case outside the matrix)', () => {
  const ids = new Set(FAULT_MATRIX.map((r) => r.id));
  expect(cases.filter((c) => !ids.has(c.id))).toEqual([]);
});

test('row ids are unique and every row says where it is seen and what to do', () => {
  expect(new Set(FAULT_MATRIX.map((r) => r.id)).size).toBe(FAULT_MATRIX.length);
  for (const r of FAULT_MATRIX) expect({ id: r.id, seen: r.seen.length > 0, action: r.action.length > 0 }).toEqual({ id: r.id, seen: true, action: true });
});

test('the matrix holds issue 8\'s faults, the ones already covered, and the features\' own failure modes', () => {
  const listed = new Set(FAULT_MATRIX.flatMap((r) => r.listed.split(', ')));
  for (const item of ['8.1', '8.2', '8.3', '8.4', '8.5', '8.6', '8.7', '8.8', '8.9', '8.10', 'covered', 'feature']) expect(listed).toContain(item);
  // Issue 8.1 names three ends outside the Catch, plus the data limit (tested through the world's quota).
  expect(FAULT_MATRIX.filter((r) => r.listed.split(', ').includes('8.1')).map((r) => r.id)).toEqual(['execution-aborted', 'execution-timed-out', 'uncatchable-error', 'data-limit-exceeded']);
});

test.each(DOC_PATHS.map((p) => [p.split('/').slice(-2).join('/'), p]))('%s shows the table the data renders', (_name, path) => {
  expect(tableInDoc(readFileSync(path, 'utf8'))).toBe(renderMatrixTable());
});
