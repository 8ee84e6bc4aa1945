import { createHash } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { zonedParts } from '../lambdas/shared/param-log';
import { SideEffectLedger } from './side-effects';

/**
 * The example job's external API as a local HTTP server, with faults that follow a seeded plan.
 *
 * The plan is a pure function of (seed, profile, tick, task key) plus the simulated clock for the
 * maintenance window, so the same seed gives the same run and a test can compute what the run
 * must report. The server only keeps one counter per task (how many non-maintenance calls it has
 * answered), which is how "fails twice, then works" is expressed.
 */
export type FaultProfile = 'none' | 'default' | 'heavy' | 'outside';
export const FAULT_PROFILES: ReadonlyArray<FaultProfile> = ['none', 'default', 'heavy', 'outside'];

/**
 * The seeded faults of an offline day. Most are the API's (this server answers by them); a few are
 * faults of the run around it, kept here so one object says what the day holds: the fan-out job's
 * failing part (its producer's knob) and the producer that fails its ticks (the run drives both).
 */
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
  /**
   * Local `HH:mm` of the tick at which ONE task's first call hangs: the operator sees its execution
   * stuck in the step and stops it (StopExecution). Null: none.
   */
  readonly stopAt: string | null;
  /**
   * Local `HH:mm` of the tick at which ONE task meets a stalling API: for `stallMinutes` after its
   * tick every call about it answers 503 slowly (under the step timeout, so CallApi retries it), and
   * the retries outlast the execution timeout. Null: none.
   */
  readonly stallAt: string | null;
  /** How long the stall lasts after its tick, simulated minutes (a later replay finds the API well). */
  readonly stallMinutes: number;
  /**
   * Local `HH:mm` from which the example-api producer fails every tick (its EXAMPLE_FAIL_PRODUCER
   * knob) for `producerFailMinutes`; then the fix is deployed and the operator re-runs the failed
   * ticks from their failed-invocation records. Null: none.
   */
  readonly producerFailAt: string | null;
  readonly producerFailMinutes: number;
  /** The fan-out producer's FANOUT_FAIL_EVERY (0: off): one part of one task fails on those ticks. */
  readonly fanoutFailEvery: number;
  /** The fan-out producer's FANOUT_FAIL_ATTEMPTS: attempts of such a task that fail (a replay after them succeeds). */
  readonly fanoutFailAttempts: number;
}

/** What the plan holds for one task. */
export interface TaskFault {
  /** Calls answered with a transient error before the first success. */
  readonly transientFailures: number;
  /** Every answered call is a 4xx. */
  readonly permanent: boolean;
  /** The first answered call is slower than the step timeout. */
  readonly slow: boolean;
  /** The first call hangs (the operator stops the execution). */
  readonly hang: boolean;
  /** Calls within `stallMinutes` of the tick answer 503 slowly (the execution times out). */
  readonly stall: boolean;
}

const QUIET = { stopAt: null, stallAt: null, stallMinutes: 30, producerFailAt: null, producerFailMinutes: 10, fanoutFailEvery: 0, fanoutFailAttempts: 1 } as const;

/**
 * The plan of a profile. Maintenance 01:00-04:00: a few hours at night, as the issue describes.
 * `outside` is `default` plus the ends the workflow's Catch never sees (an execution stopped by the
 * operator, one past its execution timeout) and a producer that fails its ticks. The fan-out job's
 * failing part every 165 minutes lands on every 11th of its hourly ticks (00:15, 11:15, 22:15 on
 * the default day), outside the maintenance window.
 */
export function faultPlan(profile: FaultProfile, seed: number): FaultPlan {
  switch (profile) {
    case 'none':
      return { profile, seed, maintenance: null, transientRate: 0, maxTransientFailures: 0, permanentRate: 0, slowAt: null, ...QUIET };
    case 'default':
      return { profile, seed, maintenance: { startMinute: 60, endMinute: 240 }, transientRate: 0.05, maxTransientFailures: 2, permanentRate: 0.005, slowAt: '12:00', ...QUIET, fanoutFailEvery: 165 };
    case 'heavy':
      return { profile, seed, maintenance: { startMinute: 0, endMinute: 360 }, transientRate: 0.25, maxTransientFailures: 4, permanentRate: 0.02, slowAt: '12:00', ...QUIET, fanoutFailEvery: 75 };
    case 'outside':
      return { ...faultPlan('default', seed), profile, stopAt: '06:00', stallAt: '07:00', producerFailAt: '09:30' };
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

/** Minutes after local midnight of an instant (app time zone). */
function localMinute(at: Date, timeZone: string): number {
  const p = zonedParts(at, timeZone);
  return Number(p.hour) * 60 + Number(p.minute);
}

/** True when the API is in its maintenance window at `at` (app time zone). */
export function inMaintenance(plan: FaultPlan, at: Date, timeZone: string): boolean {
  if (!plan.maintenance) return false;
  const minute = localMinute(at, timeZone);
  return minute >= plan.maintenance.startMinute && minute < plan.maintenance.endMinute;
}

/** True when the example-api producer is broken at `at` (from `producerFailAt`, for `producerFailMinutes`). */
export function producerBroken(plan: FaultPlan, at: Date, timeZone: string): boolean {
  if (plan.producerFailAt === null) return false;
  const [h, m] = plan.producerFailAt.split(':').map(Number);
  const since = localMinute(at, timeZone) - (h * 60 + m);
  return since >= 0 && since < plan.producerFailMinutes;
}

const specialOrders = new WeakMap<ReadonlyArray<string>, Map<string, string[]>>();

/** The keys of a tick with no fault of their own, in seeded order (memoized: the server asks per call). */
function specialOrder(plan: FaultPlan, tick: Date, tickKeys: ReadonlyArray<string>, timeZone: string): string[] {
  const at = tick.toISOString();
  const memoKey = `${plan.seed}|${plan.transientRate}|${plan.permanentRate}|${at}|${tickKeys.length}`;
  let byPlan = specialOrders.get(tickKeys);
  if (!byPlan) specialOrders.set(tickKeys, (byPlan = new Map()));
  const hit = byPlan.get(memoKey);
  if (hit) return hit;
  const plain = { ...plan, slowAt: null, stopAt: null, stallAt: null };
  const order = tickKeys
    .filter((k) => {
      const f = taskFault(plain, tick, k, timeZone);
      return !f.permanent && f.transientFailures === 0;
    })
    .map((k) => [k, seededUnit(plan.seed, 'special', at, k)] as const)
    .sort((a, b) => a[1] - b[1])
    .map(([k]) => k);
  byPlan.set(memoKey, order);
  return order;
}

/**
 * The fault of one task. `tickKeys` are all keys of the task's tick: the slow, hanging and stalling
 * tasks are each the one key of their tick that ranks first by seeded hash among the keys with no
 * other fault, so exactly one task of such a tick has it.
 */
export function taskFault(plan: FaultPlan, tick: Date, key: string, timeZone: string, tickKeys: ReadonlyArray<string> = [key]): TaskFault {
  const at = tick.toISOString();
  const permanent = seededUnit(plan.seed, 'permanent', at, key) < plan.permanentRate;
  const transient = !permanent && seededUnit(plan.seed, 'transient', at, key) < plan.transientRate;
  const transientFailures = transient ? 1 + Math.floor(seededUnit(plan.seed, 'count', at, key) * plan.maxTransientFailures) : 0;
  const none = { transientFailures, permanent, slow: false, hang: false, stall: false };
  if (permanent || transient) return none;
  const hm = localHourMinute(tick, timeZone);
  const special = (['slow', 'hang', 'stall'] as const).filter((k) => ({ slow: plan.slowAt, hang: plan.stopAt, stall: plan.stallAt })[k] === hm);
  if (special.length === 0) return none;
  // Keys of this tick with no fault of their own, in seeded order: the first gets `slow`, the next
  // `hang`, the next `stall` (when the profile puts them on the same tick).
  const eligible = specialOrder(plan, tick, tickKeys, timeZone);
  const out = { ...none };
  special.forEach((kind, i) => {
    if (eligible[i] === key) out[kind] = true;
  });
  return out;
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
  /** How long a stalling answer takes, ms: under the step timeout, so the step retries it. @default slowMs / 2 */
  readonly stallMs?: number;
  /** Told when a hanging call arrives (the offline run's operator stops that execution). */
  readonly onHang?: (ref: TaskRef) => void;
  /**
   * Told when the API applies an order about a task (answers 200), with the request's
   * `idempotency-key`; also when the caller is gone by then (a step past its timeout, a stopped
   * execution): the order is applied all the same (local/offline-day/side-effects.ts counts it).
   */
  readonly onApplied?: (ref: TaskRef, idempotencyKey: string | undefined) => void;
  /**
   * Apply an order once per `Idempotency-Key` (a repeat gets the recorded answer), as order and
   * payment APIs that take such keys do. `false` models a dependency that ignores the key. @default true
   */
  readonly honourIdempotencyKeys?: boolean;
  readonly port?: number;
}

/** Calls the fake API answered, by kind. */
export interface FakeApiStats {
  ok: number;
  maintenance: number;
  transient: number;
  permanent: number;
  slow: number;
  /** Calls that hung (their execution is stopped by the operator). */
  hung: number;
  /** Slow 503s of a stalling API. */
  stalled: number;
  /** Requests answered with the stored answer of their Idempotency-Key: nothing applied again. */
  idempotentReplays: number;
  /** Requests refused (409) while a request with the same Idempotency-Key was still being answered. */
  idempotencyConflicts: number;
}

export interface FakeExternalApi {
  /** `http://127.0.0.1:<port>/v1/orders`: the example's EXAMPLE_API_URL. */
  readonly url: string;
  readonly stats: FakeApiStats;
  /** Orders applied (accepted), per Idempotency-Key (or tick|key when a request has none). */
  readonly sideEffects: SideEffectLedger;
  close(): Promise<void>;
}

/** Starts the fake API on 127.0.0.1. */
export async function startFakeExternalApi(options: FakeExternalApiOptions): Promise<FakeExternalApi> {
  const stats: FakeApiStats = { ok: 0, maintenance: 0, transient: 0, permanent: 0, slow: 0, hung: 0, stalled: 0, idempotentReplays: 0, idempotencyConflicts: 0 };
  const sideEffects = new SideEffectLedger();
  // Idempotency-Key, as payment APIs implement it: the first accepted answer is stored and given to
  // every later request with the key, which applies nothing; a request while the first is still
  // being answered gets 409 (Stripe's documented behaviour for concurrent requests with one key).
  const stored = new Map<string, unknown>();
  // Requests still being answered, by key: the simulated time their answer is due and how to give
  // it now. The offline day's clock jumps (half an hour between two operator rounds can pass in a
  // real second) while a slow answer waits in real milliseconds; a request that comes after the
  // due time must find the first one answered, as it would on a real clock.
  const inFlight = new Map<string, { readonly dueMs: number; readonly answerNow: () => void }>();
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
      const header = req.headers['idempotency-key'];
      const idemKey = options.honourIdempotencyKeys !== false && typeof header === 'string' && header !== '' ? header : null;
      if (idemKey) {
        const first = inFlight.get(idemKey);
        if (first && options.now().getTime() >= first.dueMs) first.answerNow();
      }
      if (idemKey && stored.has(idemKey)) {
        stats.idempotentReplays += 1;
        send(200, stored.get(idemKey), { 'idempotent-replayed': 'true' });
        return;
      }
      if (idemKey && inFlight.has(idemKey)) {
        stats.idempotencyConflicts += 1;
        send(409, { message: 'a request with this Idempotency-Key is in progress' });
        return;
      }
      const ref = options.taskOf(body);
      /** The order is applied: stored under its key, counted once per application. */
      const accept = (payload: unknown): void => {
        if (idemKey) stored.set(idemKey, payload);
        sideEffects.apply(idemKey ?? (ref ? `${ref.tick.toISOString()}|${ref.key}` : 'unknown'));
      };
      if (!ref) {
        stats.ok += 1;
        accept({ accepted: true });
        send(200, { accepted: true });
        return;
      }
      const id = `${ref.tick.toISOString()}|${ref.key}`;
      const n = answered.get(id) ?? 0; // calls answered before this one
      answered.set(id, n + 1);
      const fault = taskFault(options.plan, ref.tick, ref.key, options.timeZone, ref.tickKeys);
      const idempotencyKey = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : undefined;
      const later = (ms: number, status: number, payload: unknown): void => {
        const answer = (): void => {
          clearTimeout(t);
          timers.delete(t);
          if (idemKey) inFlight.delete(idemKey);
          // Applied when answered, whether or not the caller is still there to read it.
          if (status === 200) accept(payload);
          if (status === 200) options.onApplied?.(ref, idempotencyKey);
          send(status, payload);
        };
        const t = setTimeout(answer, ms);
        timers.add(t);
        if (idemKey) inFlight.set(idemKey, { dueMs: options.now().getTime() + ms, answerNow: answer });
      };
      if (fault.permanent) {
        stats.permanent += 1;
        send(422, { message: 'order rejected: invalid order' });
      } else if (fault.slow && n === 0) {
        stats.slow += 1;
        later(options.slowMs, 200, { accepted: true, slow: true });
      } else if (fault.hang && n === 0) {
        stats.hung += 1;
        later(options.slowMs, 200, { accepted: true, slow: true });
        options.onHang?.(ref);
      } else if (fault.stall && options.now().getTime() < ref.tick.getTime() + options.plan.stallMinutes * 60_000) {
        stats.stalled += 1;
        later(options.stallMs ?? Math.floor(options.slowMs / 2), 503, { message: 'busy' });
      } else if (n < fault.transientFailures) {
        stats.transient += 1;
        // Alternate the flavours of "try again later" the CallApi step must treat alike.
        if (n % 2 === 0) send(500, { message: 'internal error' });
        else send(429, { message: 'slow down' }, { 'retry-after': '1' });
      } else {
        stats.ok += 1;
        accept({ accepted: true });
        options.onApplied?.(ref, idempotencyKey);
        send(200, { accepted: true });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/orders`,
    stats,
    sideEffects,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
