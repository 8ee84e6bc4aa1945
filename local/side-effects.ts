import { observeSideEffects } from '../lambdas/shared/side-effects';

/**
 * Side effects as a user counts them: one ledger entry per application, keyed by (task, step, map
 * item / branch): the step call's idempotency key, or a dependency's own key for what it applies.
 * A second application of one key is a duplicated side effect (an e-mail sent twice, an invoice
 * charged twice). What an operator asks to run again (a replay `from: "start"`) has keys of its own
 * (`<taskId>#r<attempt>#...`, lambdas/shared/step-idempotency.ts), so it is never counted as one.
 */
export class SideEffectLedger {
  private readonly counts = new Map<string, number>();

  /** One application of the side effect keyed `key`. */
  apply(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Applications of one key. */
  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Keys (starting with `prefix`, e.g. a task id) applied more than once, with their counts. */
  duplicated(prefix = ''): Array<[key: string, applications: number]> {
    return [...this.counts].filter(([k, c]) => k.startsWith(prefix) && c > 1);
  }

  /** Second and later applications, summed over the keys starting with `prefix`. */
  duplicatedSideEffects(prefix = ''): number {
    return this.duplicated(prefix).reduce((n, [, c]) => n + c - 1, 0);
  }

  /** Counts the side effects the example steps report (lambdas/shared/side-effects.ts) in this process; returns the removal. */
  observeSteps(): () => void {
    return observeSideEffects({ applied: (key) => this.apply(key) });
  }
}
