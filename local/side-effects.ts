import { observeSideEffects } from '../lambdas/shared/side-effects';

/**
 * Side effects as a user counts them: one ledger entry per application, keyed by (task, step, map
 * item / branch): the step call's idempotency key, or a dependency's own key for what it applies.
 * A second application of one key that no operator asked for is a duplicated side effect (an e-mail
 * sent twice, an invoice charged twice). Operators ask for one with a replay `from: "start"` after
 * deciding the earlier steps may run again ({@link SideEffectLedger.allowAgain}).
 */
export class SideEffectLedger {
  private readonly counts = new Map<string, number>();
  private readonly allowed = new Map<string, number>();

  /** One application of the side effect keyed `key`. */
  apply(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** An operator asked for the side effects of keys starting with `prefix` (a task id) to be applied once more. */
  allowAgain(prefix: string): void {
    this.allowed.set(prefix, (this.allowed.get(prefix) ?? 0) + 1);
  }

  /** Applications of one key. */
  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Applications of every key starting with `prefix` (e.g. a task id), summed. */
  countWith(prefix: string): number {
    let n = 0;
    for (const [k, c] of this.counts) if (k.startsWith(prefix)) n += c;
    return n;
  }

  /** Keys applied more often than once plus what operators asked for, with their counts. */
  duplicated(prefix = ''): Array<[key: string, applications: number]> {
    const out: Array<[string, number]> = [];
    for (const [k, c] of this.counts) {
      if (!k.startsWith(prefix)) continue;
      const asked = [...this.allowed].filter(([p]) => k.startsWith(p)).reduce((a, [, n]) => a + n, 0);
      if (c > 1 + asked) out.push([k, c]);
    }
    return out;
  }

  /** Second and later applications no operator asked for, summed over keys. */
  duplicatedSideEffects(prefix = ''): number {
    return this.duplicated(prefix).reduce((a, [k, c]) => a + c - 1 - [...this.allowed].filter(([p]) => k.startsWith(p)).reduce((x, [, n]) => x + n, 0), 0);
  }

  /** Counts the side effects the example steps report (lambdas/shared/side-effects.ts) in this process; returns the removal. */
  observeSteps(): () => void {
    return observeSideEffects({ applied: (key) => this.apply(key) });
  }
}
