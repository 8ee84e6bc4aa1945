/** The env var of the high-volume starter's routes (lib/tick-starter.ts writes it). */
export const PARENT_ROUTES_ENV = 'PARENT_ROUTES';

/**
 * Reads PARENT_ROUTES: a JSON object mapping each high-volume job's standard state machine ARN
 * (what its tick messages name) to its parent's ARN (what the starter starts), at least one.
 */
export function parseParentRoutes(raw: string): ReadonlyMap<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`${PARENT_ROUTES_ENV} is not JSON: set it to {"<standard state machine ARN>": "<parent ARN>", ...} (lib/tick-starter.ts does)`);
  }
  const entries = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? Object.entries(parsed as Record<string, unknown>) : [];
  if (entries.length === 0 || entries.some(([k, v]) => !k.includes(':stateMachine:') || typeof v !== 'string' || !v.includes(':stateMachine:'))) {
    throw new Error(`${PARENT_ROUTES_ENV} must map each high-volume job's standard state machine ARN to its parent's ARN, at least one`);
  }
  return new Map(entries as Array<[string, string]>);
}
