/**
 * EventBridge event-pattern matching, as much of it as the app's rules use, so that the offline run
 * delivers to the status-change capture exactly the events the SYNTHESIZED rule would (Amazon
 * EventBridge user guide, "Event patterns"): every field of the pattern must match; a list of values
 * matches when the event's value (or, for a list in the event, any of its elements) equals one of
 * them; nested objects match field by field. Content filters (`prefix`, `anything-but`, `exists`,
 * `numeric`, ...) are not modelled: a pattern with one is refused, so a change to the rule cannot be
 * silently misread here.
 */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  assertModelled(pattern);
  return matches(pattern, event);
}

function assertModelled(pattern: unknown): void {
  if (Array.isArray(pattern)) {
    for (const p of pattern) {
      if (p !== null && typeof p === 'object') throw new Error(`EventBridge content filter ${JSON.stringify(p)} is not modelled by the offline run (local/offline-day/eventbridge.ts)`);
    }
    return;
  }
  if (pattern === null || typeof pattern !== 'object') throw new Error(`an event pattern's leaves must be lists of values, got ${JSON.stringify(pattern)}`);
  for (const p of Object.values(pattern)) assertModelled(p);
}

function matches(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) {
    const values = Array.isArray(event) ? event : [event];
    return values.some((v) => pattern.some((p) => p === v));
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return false;
  return Object.entries(pattern as Record<string, unknown>).every(([k, p]) => matches(p, (event as Record<string, unknown>)[k]));
}
