/**
 * The one age rule for running old work again: a tick older than {@link MAX_TICK_AGE_MS} is neither
 * replayed (reprocess, a task's failure: lambdas/reprocess/message.ts) nor re-run (a producer tick:
 * lambdas/producer/logic.ts, reprocess `source: "tick"` and `source: "failedInvocations"`) unless an
 * operator forces it explicitly, after checking what the tick already did.
 *
 * Why a re-run of an old tick is not safe: a tick is re-run when its producer invocation failed
 * (Lambda's on-failure record, the Scheduler dead-letter queue; the sweeper keeps both for as long as
 * nobody acts) or by an operator. The failed invocation may have enqueued some batches, whose tasks
 * the starters started. A re-run is kept from starting them twice by the tick ledger, whose items
 * expire after LEDGER_TTL_SECONDS (lambdas/shared/tick-ledger.ts, 35 days), and by Step Functions
 * refusing an execution name that exists, which holds only for 90 days (AWS Step Functions API
 * reference, StartExecution, the `name` parameter and its idempotency rules: a Standard execution's
 * name is unique per account, Region and state machine for 90 days after the execution closes;
 * https://docs.aws.amazon.com/step-functions/latest/apigw/API_StartExecution.html). Past that, a
 * re-run plans the tick again and starts its tasks a second time. 42 days is the replay rule's
 * limit (the steps' idempotency records are kept DEFAULT_RECORD_DAYS = 45 days from the step, never
 * before the tick; 3 days of margin): well inside the 90-day name window, so one limit holds for both.
 *
 * No imports: the producer bundle includes this module (the step-idempotency module it mirrors pulls
 * in Powertools). test/tick-rerun-age.test.ts pins it to DEFAULT_RECORD_DAYS - 3.
 */

const DAY_MS = 86_400_000;

/** Oldest tick (its scheduled time) that is replayed or re-run without an explicit force: 42 days. */
export const MAX_TICK_AGE_MS = 42 * DAY_MS;

/** Reason prefix of a producer tick too old to re-run without force. */
export const TICK_TOO_OLD = 'too old to re-run safely';

/**
 * Why the tick at `tickMs` may not be re-run at `nowMs` without force, or null when it may. Names no
 * params: the tick and the rule only.
 */
export function tickTooOldReason(tickMs: number, nowMs: number): string | null {
  if (nowMs - tickMs <= MAX_TICK_AGE_MS) return null;
  return (
    `${TICK_TOO_OLD}: the tick ${new Date(tickMs).toISOString()} is more than ${MAX_TICK_AGE_MS / DAY_MS} days old; its tick ledger ` +
    'may have expired and Step Functions forgets execution names 90 days after they close, so tasks it already started could start again. ' +
    'Check what the tick already did (scheduled-jobs task <job>-<tick>-<key>, the parameter log), then re-run it with force'
  );
}
