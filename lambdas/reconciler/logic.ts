import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ExecutionListItem, ExecutionStatus, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { errorName } from '../shared/errors';
import { CAPTURED_STATUSES, CaptureResult } from '../execution-capture/logic';
import { CaptureMarks } from '../execution-capture/marker';

/**
 * The reconciler: events are not trusted. Step Functions delivers status-change events to
 * EventBridge on a best-effort basis (Amazon EventBridge events reference, "Step Functions events":
 * "Step Functions sends events on a best-effort basis"; AWS Step Functions developer guide, "Step
 * Functions events in EventBridge"), so an execution that ended outside the workflow's Catch and
 * whose event never came would stay unspooled. Every run (a schedule, lib/reconciler.ts) lists the
 * ended executions (FAILED, TIMED_OUT, ABORTED) of each job's state machine that stopped since a
 * watermark kept in the coordination table (minus an overlap), and hands those without a `done`
 * capture mark to the capture itself (lambdas/execution-capture/logic.ts), so an execution captured
 * by both the event and the reconciler is spooled once (lambdas/execution-capture/marker.ts).
 *
 * ListExecutions sorts by start date, newest first (AWS Step Functions API reference,
 * "ListExecutions"), not by stop date: an execution that started long ago can stop after the
 * watermark. So the listing pages back to the window start minus the longest execution the state
 * machine allows (its execution timeout), and a second listing of redriven executions (a redrive
 * keeps the start date and may come up to 14 days later: AWS Step Functions developer guide,
 * "Redriving executions") pages back 14 days further.
 */

/** One state machine to reconcile. */
export interface ReconciledMachine {
  readonly arn: string;
  /** The longest an execution may run (its execution timeout), seconds. */
  readonly maxRunSeconds: number;
}

/** Dependencies (the handler builds clients once; tests inject them). */
export interface ReconcileDeps {
  readonly sfn: SFNClient;
  readonly ddb: DynamoDBClient;
  readonly coordinationTable: string;
  readonly machines: ReadonlyArray<ReconciledMachine>;
  /** Captures one ended execution (the capture's own logic with the capture's dependencies). */
  readonly capture: (executionArn: string) => Promise<CaptureResult>;
  /** Looked back before the watermark, for executions ListExecutions did not show yet. @default 30 min */
  readonly overlapMs?: number;
  /** Looked back on the first run (no watermark yet). @default 24 h */
  readonly firstLookbackMs?: number;
  /**
   * An execution still failing to capture this long after its first failed capture (recorded under
   * {@link failingKey}) no longer holds the watermark back: it
   * is counted `gaveUp` (the alarm pages) and left for a person (docs/execution-capture.md). @default 6 h
   */
  readonly giveUpAfterMs?: number;
  /** Time left in the invocation, ms: captures stop a margin before it. @default unlimited */
  readonly remainingMs?: () => number;
  readonly now?: () => number;
  /** Ids-only logger. */
  readonly log?: (message: string, fields: Record<string, unknown>) => void;
}

/** What one run did, per state machine and in all. Ids and counts only. */
export interface ReconcileSummary {
  /** Ended executions in the window. */
  ended: number;
  /** Already captured (a `done` mark): skipped without a DescribeExecution. */
  alreadyCaptured: number;
  /** Captured in this run, by outcome (`spooled` is what the events missed). */
  captured: Record<string, number>;
  /** Could not be captured (an error), or another capture holds it: tried again next run. */
  failed: number;
  /** Failing longer than giveUpAfterMs: no longer holding the watermark. */
  gaveUp: number;
  /** Left for the next run (time ran out). */
  deferred: number;
  /** ListExecutions pages read. */
  pages: number;
  /** Executions that failed to capture (ARNs: ids only), at most 20. */
  failures: Array<{ executionArn: string; error: string }>;
  /** The watermarks written, by state machine ARN (epoch ms). */
  watermarks: Record<string, number>;
}

/** Key of a state machine's watermark in the coordination table. */
export function watermarkKey(stateMachineArn: string): string {
  return `reconcile#${stateMachineArn}`;
}

/** Redrives may come up to 14 days after the end (AWS Step Functions, "Redriving executions"). */
export const REDRIVE_WINDOW_MS = 14 * 86_400_000;
/** Margin kept before the invocation's end. */
const SAFETY_MS = 15_000;
const ms = (d: Date | undefined): number | null => (d instanceof Date ? d.getTime() : d === undefined ? null : new Date(d as unknown as string).getTime());

/**
 * Key of the item that holds when the reconciler FIRST failed to capture an execution (a redrive has
 * its own): the give-up clock starts there, not at the execution's end. Under the watermarks'
 * `reconcile#` prefix (the reconciler's grant); ids only.
 */
export function failingKey(executionArn: string, redriveCount = 0): string {
  return `reconcile#failing#${executionArn}#r${redriveCount}`;
}

/** Kept past any give-up window (DynamoDB TTL on `expiresAt` collects it). */
const FAILING_TTL_SECONDS = 35 * 86_400;

/** When the capture of `executionArn` first failed (recorded now if this is the first time). */
async function firstFailureMs(deps: ReconcileDeps, executionArn: string, redriveCount: number, nowMs: number): Promise<number> {
  const key = { pk: { S: failingKey(executionArn, redriveCount) } };
  try {
    await deps.ddb.send(
      new PutItemCommand({
        TableName: deps.coordinationTable,
        Item: { ...key, firstFailedMs: { N: String(nowMs) }, expiresAt: { N: String(Math.floor(nowMs / 1000) + FAILING_TTL_SECONDS) } },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return nowMs;
  } catch (e) {
    if (errorName(e) !== 'ConditionalCheckFailedException') throw e;
    const out = await deps.ddb.send(new GetItemCommand({ TableName: deps.coordinationTable, Key: key, ConsistentRead: true }));
    const v = out?.Item?.firstFailedMs?.N;
    return v === undefined ? nowMs : Number(v);
  }
}

async function readWatermark(deps: ReconcileDeps, arn: string): Promise<number | null> {
  const out = await deps.ddb.send(new GetItemCommand({ TableName: deps.coordinationTable, Key: { pk: { S: watermarkKey(arn) } }, ConsistentRead: true }));
  const v = out?.Item?.watermarkMs?.N;
  return v === undefined ? null : Number(v);
}

async function writeWatermark(deps: ReconcileDeps, arn: string, watermarkMs: number): Promise<void> {
  await deps.ddb.send(
    new PutItemCommand({
      TableName: deps.coordinationTable,
      Item: { pk: { S: watermarkKey(arn) }, watermarkMs: { N: String(watermarkMs) }, writtenAt: { N: String((deps.now ?? Date.now)()) } },
      // Never move a watermark back over a concurrent run's (two runs overlap only if one is slow).
      ConditionExpression: 'attribute_not_exists(watermarkMs) OR watermarkMs <= :w',
      ExpressionAttributeValues: { ':w': { N: String(watermarkMs) } },
    }),
  ).catch((e: unknown) => {
    if (errorName(e) !== 'ConditionalCheckFailedException') throw e;
  });
}

/** Ended executions of one state machine and status that stopped at or after `from`, paging back to `horizon` (start date). */
async function listEnded(deps: ReconcileDeps, arn: string, status: ExecutionStatus, from: number, horizon: number, redriven: boolean, summary: ReconcileSummary): Promise<ExecutionListItem[]> {
  const out: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await deps.sfn.send(new ListExecutionsCommand({ stateMachineArn: arn, statusFilter: status, maxResults: 1000, nextToken, ...(redriven ? { redriveFilter: 'REDRIVEN' } : {}) }));
    summary.pages++;
    let older = false;
    for (const e of page.executions ?? []) {
      const start = ms(e.startDate) ?? 0;
      if (start < horizon) {
        older = true;
        break;
      }
      const stop = ms(e.stopDate);
      if (stop === null || stop >= from) out.push(e);
    }
    nextToken = older ? undefined : page.nextToken;
  } while (nextToken);
  return out;
}

/** One reconciliation run over every state machine. Throws only if a listing or the watermark fails. */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileSummary> {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? (() => undefined);
  const overlap = deps.overlapMs ?? 30 * 60_000;
  const giveUpAfter = deps.giveUpAfterMs ?? 6 * 3_600_000;
  const marks = new CaptureMarks(deps.ddb, deps.coordinationTable, now);
  const summary: ReconcileSummary = { ended: 0, alreadyCaptured: 0, captured: {}, failed: 0, gaveUp: 0, deferred: 0, pages: 0, failures: [], watermarks: {} };

  for (const m of deps.machines) {
    // The listing starts now: an execution that stops later is the next run's.
    const runStart = now();
    const watermark = (await readWatermark(deps, m.arn)) ?? runStart - (deps.firstLookbackMs ?? 86_400_000);
    const from = watermark - overlap;
    const horizon = from - m.maxRunSeconds * 1000;
    const seen = new Map<string, ExecutionListItem>();
    for (const status of CAPTURED_STATUSES) {
      for (const e of await listEnded(deps, m.arn, status, from, horizon, false, summary)) seen.set(e.executionArn!, e);
      for (const e of await listEnded(deps, m.arn, status, from, horizon - REDRIVE_WINDOW_MS, true, summary)) seen.set(e.executionArn!, e);
    }
    // Oldest end first: when time runs out, the watermark stops at the first one not handled.
    const ended = [...seen.values()].sort((a, b) => (ms(a.stopDate) ?? runStart) - (ms(b.stopDate) ?? runStart));
    summary.ended += ended.length;
    let hold = runStart;
    for (const e of ended) {
      const arn = e.executionArn!;
      const stop = ms(e.stopDate) ?? runStart;
      if (deps.remainingMs && deps.remainingMs() < SAFETY_MS) {
        summary.deferred++;
        hold = Math.min(hold, stop);
        continue;
      }
      const mark = await marks.get(arn, e.redriveCount ?? 0);
      if (mark?.state === 'done') {
        summary.alreadyCaptured++;
        continue;
      }
      let unresolved: string | null = null;
      try {
        const result = await deps.capture(arn);
        if (result.outcome === 'busy') unresolved = 'CaptureBusy';
        else summary.captured[result.outcome] = (summary.captured[result.outcome] ?? 0) + 1;
        if (result.outcome === 'spooled') log('ended execution captured by the reconciler (its event was lost or late)', { executionArn: arn, status: result.status, taskId: result.taskId });
      } catch (err) {
        unresolved = errorName(err);
      }
      if (unresolved !== null) {
        // Failing for how long, not ended how long ago: an execution first looked at hours after its
        // end (the reconciler was failing itself, or its first run) gets the whole window of retries.
        // If the failure cannot be recorded, it holds the watermark (the safe side).
        const since = await firstFailureMs(deps, arn, e.redriveCount ?? 0, runStart).catch(() => runStart);
        if (runStart - since > giveUpAfter) {
          summary.gaveUp++;
          log('ended execution still not captured: no longer holding the watermark', { executionArn: arn, error: unresolved });
        } else {
          summary.failed++;
          hold = Math.min(hold, stop);
        }
        if (summary.failures.length < 20) summary.failures.push({ executionArn: arn, error: unresolved });
      }
    }
    // The next run looks from here (less the overlap): never past an execution still to capture.
    const next = Math.max(watermark, hold);
    await writeWatermark(deps, m.arn, next);
    summary.watermarks[m.arn] = next;
  }
  return summary;
}

/** Count metrics of a run (names are the docs' and the alarms'). */
export function reconcileMetrics(s: ReconcileSummary): Array<[string, number]> {
  return [
    ['ReconcileEnded', s.ended],
    ['ReconcileAlreadyCaptured', s.alreadyCaptured],
    ['ReconcileSpooled', s.captured.spooled ?? 0],
    ['ReconcileFailed', s.failed],
    ['ReconcileGaveUp', s.gaveUp],
    ['ReconcileDeferred', s.deferred],
  ];
}
