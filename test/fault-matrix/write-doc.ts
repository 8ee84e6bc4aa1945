/**
 * Writes the fault-matrix table (./matrix.ts) into docs/fault-matrix.md and README.md, between their
 * markers: `npx tsx test/fault-matrix/write-doc.ts`. test/fault-matrix/matrix.test.ts fails while a
 * document and the data disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderMatrixTable } from './matrix';

export const DOC_PATH = resolve(__dirname, '..', '..', 'docs', 'fault-matrix.md');
/** Documents that show the table (the README shows it to whoever opens the repository). */
export const DOC_PATHS = [DOC_PATH, resolve(__dirname, '..', '..', 'README.md')];
const BEGIN = '<!-- fault-matrix:begin (generated from test/fault-matrix/matrix.ts by `npx tsx test/fault-matrix/write-doc.ts`) -->';
const END = '<!-- fault-matrix:end -->';

/** The table between the markers of the document (throws when they are missing). */
export function tableInDoc(doc: string): string {
  const from = doc.indexOf(BEGIN);
  const to = doc.indexOf(END);
  if (from < 0 || to < from) throw new Error('the document has no fault-matrix markers');
  return doc.slice(from + BEGIN.length, to).trim();
}

/** The document with the table between its markers replaced by the rendered one. */
export function withTable(doc: string): string {
  tableInDoc(doc);
  return `${doc.slice(0, doc.indexOf(BEGIN) + BEGIN.length)}\n${renderMatrixTable()}\n${doc.slice(doc.indexOf(END))}`;
}

if (require.main === module) {
  for (const path of DOC_PATHS) {
    writeFileSync(path, withTable(readFileSync(path, 'utf8')));
    process.stdout.write(`${path}: table written\n`);
  }
}
