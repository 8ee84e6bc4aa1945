/**
 * EventBridge event-pattern matching, as much as the app's rules use: each key's array lists the
 * allowed values, objects nest (EventBridge user guide, "Event patterns"). For tests that deliver
 * a stand-in's events to the handler a synthesized rule targets.
 */
export function matchesEventPattern(pattern: unknown, value: unknown): boolean {
  if (Array.isArray(pattern)) return pattern.some((p) => p === value);
  if (typeof pattern === 'object' && pattern !== null) {
    return Object.entries(pattern as Record<string, unknown>).every(
      ([k, p]) => typeof value === 'object' && value !== null && matchesEventPattern(p, (value as Record<string, unknown>)[k]),
    );
  }
  return false;
}
