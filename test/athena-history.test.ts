import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { runSavedQuery } from '../cli/athena';
import { SAVED_QUERIES, TASK_BY_ID } from '../lambdas/shared/queries';

/**
 * Athena keeps every query's text and execution parameters in the workgroup's query history
 * (GetQueryExecution, 45 days) and CloudTrail logs StartQueryExecution with them; neither is under
 * the parameter log's lock (docs/security.md, "Athena query history"). The CLI's lookups send the
 * saved query's text verbatim and only ids and days as parameters, never a param value.
 */
const athena = mockClient(AthenaClient);
afterAll(() => athena.restore());

test('a task lookup sends the saved SQL verbatim and only the task id and days, though its result holds params', async () => {
  const SECRET = 'Jane Doe, 1-2-3 Shibuya';
  athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
  athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' } } });
  athena.on(GetQueryResultsCommand).resolves({
    ResultSet: {
      Rows: [{ Data: [{ VarCharValue: 'task_id' }, { VarCharValue: 'params' }] }, { Data: [{ VarCharValue: 'example-api-20261125T0305Z-order-42' }, { VarCharValue: JSON.stringify({ customer: SECRET }) }] }],
      ResultSetMetadata: { ColumnInfo: [{ Name: 'task_id', Type: 'varchar' }, { Name: 'params', Type: 'varchar' }] },
    },
  });
  const rows = await runSavedQuery(athena as unknown as AthenaClient, TASK_BY_ID, ['example-api-20261125T0305Z-order-42', '2026-11-25', '2026-12-09'], {
    workGroup: 'wg',
    database: 'db',
    timeoutMs: 1000,
    sleep: async () => undefined,
    now: () => 0,
  });
  expect(rows[0].params).toContain(SECRET);
  const sent = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input);
  expect(sent).toEqual([{ QueryString: TASK_BY_ID.sql, QueryExecutionContext: { Database: 'db' }, WorkGroup: 'wg', ExecutionParameters: ["'example-api-20261125T0305Z-order-42'", "'2026-11-25'", "'2026-12-09'"] }]);
  expect(JSON.stringify(sent)).not.toContain('Jane');
});

test.each(SAVED_QUERIES.map((q) => [q.id, q] as const))('saved query %s filters on ids, jobs and days only, never on params', (_id, q) => {
  // What lands in history is this text plus parameter values; a WHERE on params would put a param value there.
  const where = q.sql.slice(q.sql.search(/\bWHERE\b/i));
  expect(where).not.toMatch(/\bparams\b/i);
  for (const p of q.params) expect(p.name).not.toMatch(/param/i);
});
