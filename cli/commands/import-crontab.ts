import { readFileSync } from 'node:fs';
import { importCrontab, renderTs } from '../crontab';
import { UsageError } from '../errors';
import { CliIo } from '../io';

/** Options of `import-crontab`. */
export interface ImportCrontabOptions {
  /** `ts` (default: entries to paste into bin/config.ts) or `json`. */
  readonly output?: string;
  readonly json?: boolean;
  /** A system crontab: the sixth field is the user. */
  readonly system?: boolean;
}

/**
 * `import-crontab <file>` (`-` reads stdin): crontab lines -> job config entries on stdout, a warning
 * on stderr for each line it cannot map. Reads only the file: no stage, no AWS.
 */
export function importCrontabCommand(file: string, o: ImportCrontabOptions, io: CliIo, readStdin: () => string = () => readFileSync(0, 'utf8')): number {
  const format = o.json ? 'json' : (o.output ?? 'ts');
  if (format !== 'ts' && format !== 'json') throw new UsageError(`--output must be ts or json, got "${format}"`);
  let text: string;
  try {
    text = file === '-' ? readStdin() : readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`Cannot read ${file}: ${(e as Error).message}`, 'Give a crontab file, e.g. `crontab -l > my.crontab`, or - to read stdin.');
  }
  const result = importCrontab(text, { system: o.system === true });
  if (format === 'json') io.out(`${JSON.stringify(result, null, 2)}\n`);
  else io.out(renderTs(result));
  for (const w of result.warnings) io.err(`Warning: line ${w.line}: ${w.message}\n  ${w.text}\n`);
  io.err(`${result.jobs.length} job(s) from ${file}, ${result.warnings.length} warning(s).\n`);
  return 0;
}
