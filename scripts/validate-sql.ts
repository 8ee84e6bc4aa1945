/**
 * Validates SQL with dt-sql-parser: reads `[{ "dialect": "trino" | "hive", "sql": "..." }]` as JSON
 * on stdin and prints `[[error messages of item 0], ...]`. A separate process because
 * dt-sql-parser is ESM-only and loads under tsx but not under jest's CommonJS runtime
 * (test/investigation-queries.test.ts runs it with `npx tsx`).
 */
import { HiveSQL, TrinoSQL } from 'dt-sql-parser';

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const items = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ dialect: 'trino' | 'hive'; sql: string }>;
  const trino = new TrinoSQL();
  const hive = new HiveSQL();
  const out = items.map((i) => (i.dialect === 'trino' ? trino : hive).validate(i.sql).map((e) => `${e.startLine}:${e.startColumn} ${e.message}`));
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
