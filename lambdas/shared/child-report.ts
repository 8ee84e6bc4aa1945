/**
 * What a high-volume child tells its parent when some of its items could not be spooled
 * (lib/high-volume-workflow.ts): the child fails with {@link ITEMS_NOT_SPOOLED} and this report as
 * the cause, so the Map Run counts it failed and the parent's post-map step
 * (lambdas/map-failures) spools exactly those items. Item positions and error names only: no task ids, no params.
 */

/** Error of the child's Fail state when items were not spooled (the post-map step reads it). */
export const ITEMS_NOT_SPOOLED = 'ItemsNotSpooled';

/** One item the child could not spool: its position in the child's `Items`, and the names of what failed. */
export interface NotSpooledItem {
  readonly i: number;
  /** The step's error name (the retry contract), or null. */
  readonly error: string | null;
  /** The step that failed, or null. */
  readonly failedState: string | null;
}

/** The report's shape. */
export interface NotSpooledReport {
  readonly v: 1;
  readonly notSpooled: ReadonlyArray<NotSpooledItem>;
}

/** A Fail state's cause may hold 32,768 characters: names are cut so that 100+ items fit. */
const NAME_MAX = 100;

/** The cause string of the child's Fail state. */
export function formatNotSpooledReport(items: ReadonlyArray<NotSpooledItem>): string {
  const cut = (s: string | null) => (s === null ? null : s.slice(0, NAME_MAX));
  const report: NotSpooledReport = { v: 1, notSpooled: items.map((x) => ({ i: x.i, error: cut(x.error), failedState: cut(x.failedState) })) };
  return JSON.stringify(report);
}

/**
 * Reads a child's report back; null when `cause` is not one (another failure of the child: then
 * nothing is known of its items).
 */
export function parseNotSpooledReport(cause: string | null | undefined): NotSpooledReport | null {
  if (typeof cause !== 'string') return null;
  let o: unknown;
  try {
    o = JSON.parse(cause);
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null) return null;
  const r = o as Record<string, unknown>;
  if (r.v !== 1 || !Array.isArray(r.notSpooled)) return null;
  const items: NotSpooledItem[] = [];
  for (const x of r.notSpooled as unknown[]) {
    if (typeof x !== 'object' || x === null) return null;
    const e = x as Record<string, unknown>;
    if (!Number.isInteger(e.i) || (e.i as number) < 0) return null;
    items.push({ i: e.i as number, error: typeof e.error === 'string' ? e.error : null, failedState: typeof e.failedState === 'string' ? e.failedState : null });
  }
  return { v: 1, notSpooled: items };
}
