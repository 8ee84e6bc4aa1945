import { lambdaStepsOf, ResolvedAppConfig } from '../../lib/config/types';
import { SPOOL_ATTR_ERROR } from '../../lambdas/shared/spool-message';
import type { SqsEmulator } from '../sqs-emulator';
import { nextDay } from '../../lambdas/shared/queries';
import { FaultPlan, inMaintenance } from '../fake-external-api';
import { localDay, localMidnight, localMinuteText } from './local-time';
import type { Operator } from './operator';
import type { Timeline } from './sim-clock';

/**
 * When the simulated on-call engineer acts (operator.ts is what they do): holds the API's
 * dependencies when its maintenance window starts, and after a window or at the end of the period
 * re-runs failed invocations, releases the hold and replays the spool; re-runs the failed ticks when
 * the producer's fix is deployed.
 */
export class OperatorDesk {
  /** The operator's hold is on (set at the window's start, released by the next round). */
  holdOn = false;

  constructor(
    private readonly o: {
      readonly operator: Operator;
      readonly heldDependencies: ReadonlyArray<string>;
      readonly plan: FaultPlan;
      readonly timeZone: string;
      readonly now: () => Date;
      readonly progress: (line: string) => void;
    },
  ) {}

  /** Holds every held dependency (the maintenance window starts). */
  async holdAll(reason: string): Promise<void> {
    for (const d of this.o.heldDependencies) await this.o.operator.hold(d, reason);
    this.holdOn = true;
  }

  /** The operator's round after a window or at the end: never into maintenance (each replay would fail again and spend the task's replay budget). */
  async round(): Promise<void> {
    const { operator } = this.o;
    await operator.rerunFailedInvocations();
    if (inMaintenance(this.o.plan, this.o.now(), this.o.timeZone)) {
      this.o.progress('  the API is in maintenance: the operator waits, nothing replayed');
      return;
    }
    if (this.holdOn) {
      for (const d of this.o.heldDependencies) await operator.unhold(d);
      this.holdOn = false;
    }
    await operator.replay();
  }

  /**
   * The producer's fix is deployed when its broken period ends; the operator then re-runs the failed
   * ticks through reprocess (docs/runbook.md, "Re-run a failed invocation"). Put on the timeline.
   */
  scheduleProducerFixes(timeline: Timeline, from: Date, to: Date): void {
    const { plan, timeZone: tz } = this.o;
    if (plan.producerFailAt === null) return;
    const [h, m] = plan.producerFailAt.split(':').map(Number);
    for (let day = localDay(from, tz); localMidnight(day, tz).getTime() < to.getTime(); day = nextDay(day)) {
      const fixAt = new Date(localMidnight(day, tz).getTime() + (h * 60 + m + plan.producerFailMinutes) * 60_000);
      if (fixAt.getTime() <= to.getTime()) {
        timeline.at(fixAt, 'producer fix deployed: re-run the failed ticks', async () => {
          this.o.progress(`${localMinuteText(this.o.now(), tz)} the producer's fix is deployed: the operator re-runs the failed ticks`);
          await this.o.operator.rerunFailedInvocations();
        });
      }
    }
  }
}

/** Error names a replay can fix, in the order the operator replays them: the steps' retryable errors, then the platform's. */
export function replayableErrors(config: ResolvedAppConfig): string[] {
  return [
    ...new Set([
      ...config.jobs.flatMap((j) => lambdaStepsOf(j).flatMap((s) => s.retry.retryableErrors)),
      'States.Timeout',
      'DependencyOnHold',
      'ExecutionAborted',
      'ExecutionTimedOut',
      // A start Step Functions answered with a 5xx beyond the starter's retries (spooled StartFailed).
      'ServiceUnavailable',
      'InternalFailure',
    ]),
  ];
}

/** What waits in a queue by its spool error attribute (what the console or `scheduled-jobs status` shows). */
export async function errorsWaiting(sqs: Pick<SqsEmulator, 'inspectQueue'>, queueName: string): Promise<Map<string, number>> {
  const waiting = new Map<string, number>();
  for (const m of (await sqs.inspectQueue(queueName)).all) {
    const e = m.attributes[SPOOL_ATTR_ERROR] ?? '';
    waiting.set(e, (waiting.get(e) ?? 0) + 1);
  }
  return waiting;
}
