import { zonedParts } from '../../lambdas/shared/param-log';

/** Local (app time zone) dates and labels of the simulated day. */

/** The UTC instant of local midnight of `day` in `timeZone`. */
export function localMidnight(day: string, timeZone: string): Date {
  const [y, m, d] = day.split('-').map(Number);
  let guess = Date.UTC(y, m - 1, d);
  for (let i = 0; i < 3; i++) {
    const p = zonedParts(new Date(guess), timeZone);
    const asUtc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
    guess -= asUtc - Date.UTC(y, m - 1, d);
  }
  return new Date(guess);
}

/** `yyyy-MM-dd HH` in `tz`. */
export const localHour = (at: Date, tz: string): string => {
  const p = zonedParts(at, tz);
  return `${p.year}-${p.month}-${p.day} ${p.hour}`;
};
/** `yyyy-MM-dd` in `tz`. */
export const localDay = (at: Date, tz: string): string => {
  const p = zonedParts(at, tz);
  return `${p.year}-${p.month}-${p.day}`;
};
/** `yyyy-MM-dd HH:mm` in `tz`. */
export const localMinuteText = (at: Date, tz: string): string => {
  const p = zonedParts(at, tz);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
};
/** `HH:mm` of a minute of the day. */
export const hhmm = (minute: number): string => `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
