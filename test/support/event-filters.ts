/**
 * EventBridge event-pattern matching with the content filters the tamper alarm uses (Amazon
 * EventBridge user guide, "Creating event patterns" and "Content filtering in event patterns"):
 * every field of a pattern must match; a leaf lists matchers, one of which must match the event's
 * value (or, for a list in the event, one of its elements); matchers are literal values, `prefix`,
 * `suffix`, `anything-but` (a value, a list, or a `prefix`), `exists` and `equals-ignore-case`; an
 * `$or` key holds alternatives of which one must match, next to the object's other fields. A field
 * missing from the event matches only `exists: false`. Any other filter is refused, so a pattern
 * this module cannot read is never silently misjudged.
 */
export function matchesPattern(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) return matchesLeaf(pattern, event);
  if (pattern === null || typeof pattern !== 'object') throw new Error(`a pattern's leaves must be lists, got ${JSON.stringify(pattern)}`);
  if (Array.isArray(event)) return event.some((e) => matchesPattern(pattern, e));
  const obj = event !== null && typeof event === 'object' ? (event as Record<string, unknown>) : undefined;
  return Object.entries(pattern as Record<string, unknown>).every(([k, p]) => {
    if (k === '$or') {
      if (!Array.isArray(p) || p.length < 2) throw new Error('$or takes a list of at least two patterns');
      return p.some((alt) => matchesPattern(alt, event));
    }
    const value = obj?.[k];
    if (Array.isArray(p)) return matchesLeaf(p, value);
    return value !== undefined && matchesPattern(p, value);
  });
}

function matchesLeaf(matchers: unknown[], value: unknown): boolean {
  const missing = value === undefined;
  const values = Array.isArray(value) ? value : [value];
  return matchers.some((m) => {
    if (m !== null && typeof m === 'object') {
      const [[op, arg], ...rest] = Object.entries(m as Record<string, unknown>);
      if (rest.length > 0) throw new Error(`one filter per matcher, got ${JSON.stringify(m)}`);
      if (op === 'exists') return arg === !missing;
      if (missing) return false;
      return values.some((v) => filter(op, arg, v));
    }
    return !missing && values.some((v) => v === m);
  });
}

function filter(op: string, arg: unknown, v: unknown): boolean {
  switch (op) {
    case 'prefix':
      return typeof v === 'string' && v.startsWith(String(arg));
    case 'suffix':
      return typeof v === 'string' && v.endsWith(String(arg));
    case 'equals-ignore-case':
      return typeof v === 'string' && v.toLowerCase() === String(arg).toLowerCase();
    case 'anything-but': {
      if (arg !== null && typeof arg === 'object' && !Array.isArray(arg)) {
        const [[inner, innerArg]] = Object.entries(arg as Record<string, unknown>);
        if (inner !== 'prefix') throw new Error(`anything-but ${inner} is not modelled`);
        return typeof v === 'string' && !v.startsWith(String(innerArg));
      }
      const excluded = Array.isArray(arg) ? arg : [arg];
      return !excluded.includes(v);
    }
    default:
      throw new Error(`EventBridge filter "${op}" is not modelled (test/support/event-filters.ts)`);
  }
}
