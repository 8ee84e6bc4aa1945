/** Plain JSON: what task params must be so that a payload spooled today still runs after next week's deploy. */
export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** True when `value` survives JSON.stringify/JSON.parse unchanged (no Dates, functions, NaN, undefined, cycles). */
export function isPlainJson(value: unknown, seen: Set<object> = new Set()): value is JsonValue {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (seen.has(value as object)) return false;
      seen.add(value as object);
      const ok = Array.isArray(value)
        ? value.every((v) => isPlainJson(v, seen))
        : Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null
          ? Object.values(value as object).every((v) => isPlainJson(v, seen))
          : false;
      seen.delete(value as object);
      return ok;
    }
    default:
      return false;
  }
}
