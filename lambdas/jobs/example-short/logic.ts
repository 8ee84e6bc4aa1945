import { InvalidTaskError } from '../../shared/errors';
import { JsonObject, JsonValue } from '../../shared/json';
import { TaskSpec } from '../../producer/logic';

/**
 * The short example (issue 20): two steps of milliseconds each, the kind of task the high-volume
 * mode is for. Price turns a meter reading into an amount; Post posts it (its side effect, keyed by
 * the step's idempotency key, so a child that runs twice posts once).
 */

/** Producer: `meters` tasks per tick, keyed by meter (a reading a tick). */
export function produceReadings(scheduledTime: Date, meters: number): TaskSpec[] {
  const minute = Math.floor(scheduledTime.getTime() / 60_000);
  return Array.from({ length: meters }, (_, i) => ({ key: `m-${String(i + 1).padStart(3, '0')}`, params: { meter: `m-${String(i + 1).padStart(3, '0')}`, units: (minute * 7 + i * 13) % 1_000 } }));
}

/** Price: the amount of a reading, in minor units (tiered). */
export function price(params: JsonValue): JsonObject {
  const p = params as { meter?: unknown; units?: unknown } | null;
  if (!p || typeof p.meter !== 'string' || typeof p.units !== 'number') throw new InvalidTaskError('params must be {meter, units}');
  const amountMinor = Math.min(p.units, 100) * 20 + Math.max(0, p.units - 100) * 30;
  return { meter: p.meter, amountMinor };
}

/** Post: the posted line (a real job writes it under its idempotency key). */
export function post(previous: JsonValue): JsonObject {
  const p = previous as { meter?: unknown; amountMinor?: unknown } | null;
  if (!p || typeof p.meter !== 'string' || typeof p.amountMinor !== 'number') throw new InvalidTaskError('previous must be the priced reading');
  return { meter: p.meter, posted: p.amountMinor };
}
