import { createHash } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { zonedParts } from '../lambdas/shared/param-log';

/**
 * The example job's external API as a local HTTP server, with faults that follow a seeded plan.
 *
 * The plan is a pure function of (seed, profile, tick, task key) plus the simulated clock for the
 * maintenance window, so the same seed gives the same run and a test can compute what the run
 * must report. The server only keeps one counter per task (how many non-maintenance calls it has
 * answered), which is how "fails twice, then works" is expressed.
 */
export type FaultProfile = 'none' | 'default' | 'heavy';
export const FAULT_PROFILES: ReadonlyArray<FaultProfile> = ['none', 'default', 'heavy'];

export interface FaultPlan {
  readonly profile: FaultProfile;
  readonly seed: number;
  /** Nightly maintenance in the app's time zone, minutes after midnight, [start, end). Null: none. */
  readonly maintenance: { readonly startMinute: number; readonly endMinute: number } | null;
  /** Share of tasks whose first calls fail with a transient 5xx/429. */
  readonly transientRate: number;
  /** A transient task fails 1..this many calls, then works (kept below the CallApi retries + 1). */
  readonly maxTransientFailures: number;
  /** Share of tasks the API rejects for good (4xx). */
  readonly permanentRate: number;
  /**
   * Local `HH:mm` of the tick at which ONE task's first answered call is slower than the step
   * timeout (the task whose key ranks first by seeded hash among that tick's keys). Null: none.
   */
  readonly slowAt: string | null;
}

/** What the plan holds for one task. */
export interface TaskFault {
  /** Calls answered with a transient error before the first success. */
  readonly transientFailures: number;
  /** Every answered call is a 4xx. */
  readonly permanent: boolean;
  /** The first answered call is slower than the step timeout. */
  readonly slow: boolean;
}

/** The plan of a profile. Maintenance 01:00-04:00: a few hours at night, as the issue describes. */
export function faultPlan(profile: FaultProfile, seed: number): FaultPlan {
  switch (profile) {
    case 'none':
      return { profile, seed, maintenance: null, transientRate: 0, maxTransientFailures: 0, permanentRate: 0, slowAt: null };
    case 'default':
      return { profile, seed, maintenance: { startMinute: 60, endMinute: 240 }, transientRate: 0.05, maxTransientFailures: 2, permanentRate: 0.005, slowAt: '12:00' };
    case 'heavy':
      return { profile, seed, maintenance: { startMinute: 0, endMinute: 360 }, transientRate: 0.25, maxTransientFailures: 4, permanentRate: 0.02, slowAt: '12:00' };
  }
}

/** Uniform [0, 1) from a hash of the parts: the seeded randomness of the plan (no hidden state). */
export function seededUnit(...parts: ReadonlyArray<string | number>): number {
  const h = createHash('sha256').update(parts.join('|')).digest();
  return h.readUInt32BE(0) / 0x1_0000_0000;
}

/** Local `HH:mm` of an instant. */
export function localHourMinute(at: Date, timeZone: string): string {
  const p = zonedParts(at, timeZone);
  return `${p.hour}:${p.minute}`;
}

/** True when the API is in its maintenance window at `at` (app time zone). */
export function inMaintenance(plan: FaultPlan, at: Date, timeZone: string): boolean {
  if (!plan.maintenance) return false;
  const p = zonedParts(at, timeZone);
  const minute = Number(p.hour) * 60 + Number(p.minute);
  return minute >= plan.maintenance.startMinute && minute < plan.maintenance.endMinute;
}

/**
 * The fault of one task. `tickKeys` are all keys of the task's tick: the slow task is the one of
 * them that ranks first by seeded hash, so exactly one task of that tick is slow.
 */
export function taskFault(plan: FaultPlan, tick: Date, key: string, timeZone: string, tickKeys: ReadonlyArray<string> = [key]): TaskFault {
  const at = tick.toISOString();
  const permanent = seededUnit(plan.seed, 'permanent', at, key) < plan.permanentRate;
  const transient = !permanent && seededUnit(plan.seed, 'transient', at, key) < plan.transientRate;
  const transientFailures = transient ? 1 + Math.floor(seededUnit(plan.seed, 'count', at, key) * plan.maxTransientFailures) : 0;
  let slow = false;
  if (!permanent && !transient && plan.slowAt !== null && localHourMinute(tick, timeZone) === plan.slowAt) {
    const rank = (k: string): number => seededUnit(plan.seed, 'slow', at, k);
    const eligible = tickKeys.filter((k) => {
      const f = taskFault({ ...plan, slowAt: null }, tick, k, timeZone);
      return !f.permanent && f.transientFailures === 0;
    });
    slow = eligible.length > 0 && eligible.reduce((best, k) => (rank(k) < rank(best) ? k : best)) === key;
  }
  return { transientFailures, permanent, slow };
}

/** Which task a request is about: the runner knows it from the execution that makes the call. */
export interface TaskRef {
  readonly tick: Date;
  readonly key: string;
  /** Every key of that tick (for the one slow task). */
  readonly tickKeys: ReadonlyArray<string>;
}

export interface FakeExternalApiOptions {
  readonly plan: FaultPlan;
  readonly timeZone: string;
  /** The simulated clock (maintenance window). */
  readonly now: () => Date;
  /** Maps a request body to its task; unknown requests are answered 200 (a healthy API). */
  readonly taskOf: (body: unknown) => TaskRef | undefined;
  /** How long the slow answer takes, ms: set it past the (local) CallApi step timeout. */
  readonly slowMs: number;
  readonly port?: number;
}

/** Calls the fake API answered, by kind. */
export interface FakeApiStats {
  ok: number;
  maintenance: number;
  transient: number;
  permanent: number;
  slow: number;
}

export interface FakeExternalApi {
  /** `http://127.0.0.1:<port>/v1/orders`: the example's EXAMPLE_API_URL. */
  readonly url: string;
  readonly stats: FakeApiStats;
  close(): Promise<void>;
}

/** Starts the fake API on 127.0.0.1. */
export async function startFakeExternalApi(options: FakeExternalApiOptions): Promise<FakeExternalApi> {
  const stats: FakeApiStats = { ok: 0, maintenance: 0, transient: 0, permanent: 0, slow: 0 };
  const answered = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(payload));
      };
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
      } catch {
        send(400, { message: 'body is not JSON' });
        return;
      }
      if (inMaintenance(options.plan, options.now(), options.timeZone)) {
        stats.maintenance += 1;
        send(503, { message: 'scheduled maintenance' }, { 'retry-after': '3600' });
        return;
      }
      const ref = options.taskOf(body);
      if (!ref) {
        stats.ok += 1;
        send(200, { accepted: true });
        return;
      }
      const id = `${ref.tick.toISOString()}|${ref.key}`;
      const n = answered.get(id) ?? 0; // calls answered before this one
      answered.set(id, n + 1);
      const fault = taskFault(options.plan, ref.tick, ref.key, options.timeZone, ref.tickKeys);
      if (fault.permanent) {
        stats.permanent += 1;
        send(422, { message: 'order rejected: invalid order' });
      } else if (fault.slow && n === 0) {
        stats.slow += 1;
        const t = setTimeout(() => {
          timers.delete(t);
          send(200, { accepted: true, slow: true });
        }, options.slowMs);
        timers.add(t);
      } else if (n < fault.transientFailures) {
        stats.transient += 1;
        // Alternate the flavours of "try again later" the CallApi step must treat alike.
        if (n % 2 === 0) send(500, { message: 'internal error' });
        else send(429, { message: 'slow down' }, { 'retry-after': '1' });
      } else {
        stats.ok += 1;
        send(200, { accepted: true });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/orders`,
    stats,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
