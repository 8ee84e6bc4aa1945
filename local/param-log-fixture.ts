import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ParamLogRecord, partitionPath, toJsonLine } from '../lambdas/shared/param-log';

/**
 * Writes parameter-log objects exactly as the core's Firehose streams do: gzip JSON lines under
 * `<root>/<client|worker>/year=YYYY/month=MM/day=DD/<name>.gz`, the partition being the ARRIVAL
 * time in the app's time zone (Firehose prefixes use arrival time, not the record's own time).
 * Tests and the pruning measurement build records with the project's own builders and write
 * them through this, so a change of the record format or the layout breaks them.
 */
export function writeLogObject(root: string, records: ReadonlyArray<ParamLogRecord>, arrival: Date, timeZone: string, name: string): string {
  if (records.length === 0) throw new Error('an object holds at least one record');
  const type = records[0].type;
  if (records.some((r) => r.type !== type)) throw new Error('one object holds one record type (one stream per type)');
  const dir = join(root, type, partitionPath(arrival, timeZone));
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.gz`);
  writeFileSync(path, gzipSync(records.map(toJsonLine).join('')));
  return path;
}
