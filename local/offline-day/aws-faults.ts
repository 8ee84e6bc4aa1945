import { seededUnit } from '../fake-external-api';

/**
 * A world no kinder than AWS: the faults AWS documents for the services the design relies on, as
 * seeded, deterministic knobs of the offline day (docs/aws-promises.md gives each promise with the
 * AWS page that states it). Every decision is a pure function of (seed, kind, key): the same seed
 * gives the same run, and a unit test can say exactly which event is dropped.
 *
 * - status-change events (EventBridge, best effort): dropped, late, duplicated;
 * - Lambda asynchronous invocation (at least once): an event delivered twice;
 * - SQS standard queue through an event source mapping (at least once): a message delivered twice;
 * - EventBridge Scheduler (at least once): a tick delivered twice;
 * - Step Functions Retry: the wait of each retry with MaxDelaySeconds and JitterStrategy FULL
 *   applied, added up on the simulated clock's books (the engine itself skips the wait: time
 *   compression, docs/offline-day.md);
 * - the 25,000-event history quota: an execution whose history passes it fails outside the Catch;
 * - a high-volume parent's Express children (map-run.ts): a child run twice (at least once), a child
 *   ended at its five minutes.
 *
 * StopExecution and execution timeouts leaving the step's Lambda running need no knob: the local
 * engine stops awaiting the handler, and the handler runs on to its own end (side-effects.ts waits
 * for it and counts what it did).
 */

/** The knobs: probabilities in [0, 1], delays in simulated minutes. */
export interface AwsFaultRates {
  /** A status-change event never delivered. */
  readonly eventDrop: number;
  /** A status-change event delivered twice. */
  readonly eventDuplicate: number;
  /** A status-change event delivered late (after `eventLateMinutes`). */
  readonly eventLate: number;
  readonly eventLateMinutes: number;
  /** An asynchronous invocation's event delivered twice (Lambda async: producers, capture, re-invokes). */
  readonly asyncDuplicate: number;
  /** A message of the tick queue delivered twice to the starter (SQS standard + event source mapping). */
  readonly sqsDuplicate: number;
  /** A schedule tick delivered twice (EventBridge Scheduler). */
  readonly schedulerDuplicate: number;
  /** A high-volume Express child run twice (Express: at least once). */
  readonly expressChildTwice?: number;
  /** A high-volume Express child ended at its five minutes (TIMED_OUT after its first step). */
  readonly expressChildTimeout?: number;
  /** A high-volume parent's StartExecution answered 503 ServiceUnavailable (per call: rate 1 fails every retry). */
  readonly parentStartUnavailable?: number;
  /** History events an execution may have (Step Functions quota: 25,000). */
  readonly historyEventLimit: number;
  /** An outage of the parameter log's bucket, in minutes from the run's start: Firehose retries 24 h, then discards. */
  readonly bucketOutage: { readonly startMinute: number; readonly minutes: number } | null;
}

/** The worlds of `--aws-faults` (`--faults aws` selects `aws`). */
export type AwsWorld = 'kind' | 'default' | 'aws';
export const AWS_WORLDS: ReadonlyArray<AwsWorld> = ['kind', 'default', 'aws'];

/** The Step Functions quota on execution history events (Standard workflows). */
export const HISTORY_EVENT_QUOTA = 25_000;

/**
 * Rates per world. `kind` promises more than AWS (today's stand-ins: nothing dropped or repeated);
 * `default` keeps the deliveries AWS repeats (at least once) at low rates and loses nothing, so the
 * plain `npm start` shows that duplicates are absorbed; `aws` also drops and delays status changes,
 * which only a reconciler (listing ended executions) makes good.
 */
export function awsFaultRates(world: AwsWorld): AwsFaultRates {
  switch (world) {
    case 'kind':
      return { eventDrop: 0, eventDuplicate: 0, eventLate: 0, eventLateMinutes: 0, asyncDuplicate: 0, sqsDuplicate: 0, schedulerDuplicate: 0, historyEventLimit: HISTORY_EVENT_QUOTA, bucketOutage: null };
    case 'default':
      return { eventDrop: 0, eventDuplicate: 0.02, eventLate: 0.02, eventLateMinutes: 3, asyncDuplicate: 0.01, sqsDuplicate: 0.01, schedulerDuplicate: 0.01, historyEventLimit: HISTORY_EVENT_QUOTA, bucketOutage: null };
    case 'aws':
      // A 3-hour bucket outage from 14:00: Firehose's retries deliver it all late (within 24 h).
      return { eventDrop: 0.05, eventDuplicate: 0.05, eventLate: 0.05, eventLateMinutes: 7, asyncDuplicate: 0.03, sqsDuplicate: 0.03, schedulerDuplicate: 0.03, expressChildTwice: 0.3, expressChildTimeout: 0.3, historyEventLimit: HISTORY_EVENT_QUOTA, bucketOutage: { startMinute: 14 * 60, minutes: 180 } };
  }
}

/** What happens to one status-change event. */
export interface EventFate {
  /** Deliveries: 0 (dropped), 1, or 2 (duplicated). */
  readonly copies: 0 | 1 | 2;
  /** Simulated minutes before delivery (0: when the batch settles, as today). */
  readonly delayMinutes: number;
}

/** Counts of what the faults did, for the report. */
export interface AwsFaultCounts {
  eventsDropped: number;
  eventsDuplicated: number;
  eventsLate: number;
  asyncDuplicated: number;
  sqsDuplicated: number;
  schedulerDuplicated: number;
  historyExceeded: number;
  expressChildrenRepeated: number;
  expressChildrenTimedOut: number;
  parentStartsUnavailable: number;
}

/** The seeded fault decisions of one run. */
export class AwsFaults {
  readonly counts: AwsFaultCounts = { eventsDropped: 0, eventsDuplicated: 0, eventsLate: 0, asyncDuplicated: 0, sqsDuplicated: 0, schedulerDuplicated: 0, historyExceeded: 0, expressChildrenRepeated: 0, expressChildrenTimedOut: 0, parentStartsUnavailable: 0 };

  constructor(
    readonly world: AwsWorld,
    readonly seed: number,
    readonly rates: AwsFaultRates = awsFaultRates(world),
    /** Drops exactly the status changes it selects (by {@link statusEventKey}) instead of `eventDrop`'s share: tests aim a drop at one execution. */
    private readonly dropEventWhen?: (key: string) => boolean,
  ) {
    for (const [k, v] of Object.entries(rates)) {
      if (k === 'bucketOutage') continue;
      if (typeof v !== 'number' || Number.isNaN(v) || v < 0 || (k !== 'eventLateMinutes' && k !== 'historyEventLimit' && v > 1)) {
        throw new Error(`AWS fault rate ${k} must be a probability in [0, 1] (or a non-negative number of minutes/events), got ${String(v)}`);
      }
    }
  }

  /** Whether the parameter log's bucket refuses deliveries at `at` (runStart: the run's first instant). */
  bucketDown(at: Date, runStart: Date): boolean {
    const o = this.rates.bucketOutage;
    if (!o) return false;
    const m = (at.getTime() - runStart.getTime()) / 60_000;
    return m >= o.startMinute && m < o.startMinute + o.minutes;
  }

  private hit(kind: string, key: string, rate: number): boolean {
    return rate > 0 && seededUnit(this.seed, 'aws', kind, key) < rate;
  }

  /** The fate of a status-change event, by a key unique to it (execution ARN, status, redrive count). */
  statusEvent(key: string): EventFate {
    if (this.dropEventWhen ? this.dropEventWhen(key) : this.hit('drop', key, this.rates.eventDrop)) {
      this.counts.eventsDropped += 1;
      return { copies: 0, delayMinutes: 0 };
    }
    const copies = this.hit('dup', key, this.rates.eventDuplicate) ? 2 : 1;
    if (copies === 2) this.counts.eventsDuplicated += 1;
    const late = this.hit('late', key, this.rates.eventLate);
    if (late) this.counts.eventsLate += 1;
    return { copies, delayMinutes: late ? this.rates.eventLateMinutes : 0 };
  }

  /** Whether Step Functions answers this StartExecution of a high-volume parent 503 (by name and call: a retry is a new draw). */
  parentStartUnavailable(name: string): boolean {
    const n = (this.parentStartCalls.get(name) ?? 0) + 1;
    this.parentStartCalls.set(name, n);
    const out = this.hit('parent-start', `${name}|${n}`, this.rates.parentStartUnavailable ?? 0);
    if (out) this.counts.parentStartsUnavailable += 1;
    return out;
  }

  private readonly parentStartCalls = new Map<string, number>();

  /** Whether Step Functions runs this high-volume Express child twice (by its execution ARN). */
  expressChildTwice(childArn: string): boolean {
    const twice = this.hit('express-twice', childArn, this.rates.expressChildTwice ?? 0);
    if (twice) this.counts.expressChildrenRepeated += 1;
    return twice;
  }

  /** Whether this high-volume Express child reaches its five minutes (by its execution ARN). */
  expressChildTimesOut(childArn: string): boolean {
    const out = this.hit('express-timeout', childArn, this.rates.expressChildTimeout ?? 0);
    if (out) this.counts.expressChildrenTimedOut += 1;
    return out;
  }

  /**
   * Whether Lambda delivers this asynchronous invocation a second time. Key it by what is stable
   * across runs ({@link asyncEventKey}): a status change's id and time are not.
   */
  asyncTwice(functionId: string, key: string): boolean {
    const twice = this.hit('async', `${functionId}|${key}`, this.rates.asyncDuplicate);
    if (twice) this.counts.asyncDuplicated += 1;
    return twice;
  }

  /** Whether the event source mapping delivers this message a second time (keyed by its body: stable across runs). */
  sqsTwice(key: string): boolean {
    const twice = this.hit('sqs', key, this.rates.sqsDuplicate);
    if (twice) this.counts.sqsDuplicated += 1;
    return twice;
  }

  /** Whether Scheduler delivers this tick twice. */
  schedulerTwice(functionId: string, tickIso: string): boolean {
    const twice = this.hit('scheduler', `${functionId}|${tickIso}`, this.rates.schedulerDuplicate);
    if (twice) this.counts.schedulerDuplicated += 1;
    return twice;
  }
}

/** A stable key of an asynchronously delivered event: a status change by {@link statusEventKey}, anything else by its JSON. */
export function asyncEventKey(event: unknown): string {
  const d = (event as { detail?: { executionArn?: unknown } } | null)?.detail;
  return d && typeof d.executionArn === 'string' ? statusEventKey(event as Parameters<typeof statusEventKey>[0]) : JSON.stringify(event);
}

/** A key unique to one status change of one execution: its ARN, status and redrive count. */
export function statusEventKey(ev: { detail?: { executionArn?: unknown; status?: unknown; redriveCount?: unknown } }): string {
  return `${String(ev.detail?.executionArn ?? '')}|${String(ev.detail?.status ?? '')}|${String(ev.detail?.redriveCount ?? 0)}`;
}

/**
 * EventBridge's delivery of status changes, best effort: each event is delivered 0, 1 or 2 times,
 * now or `delayMinutes` later (through `later`, the run's timeline).
 */
export async function dispatchStatusEvent<E extends { detail?: { executionArn?: unknown; status?: unknown; redriveCount?: unknown } }>(
  faults: AwsFaults,
  ev: E,
  deliver: (ev: E) => Promise<void>,
  later: (minutes: number, label: string, run: () => Promise<void>) => void,
): Promise<void> {
  const fate = faults.statusEvent(statusEventKey(ev));
  for (let i = 0; i < fate.copies; i++) {
    if (fate.delayMinutes > 0) later(fate.delayMinutes * (i + 1), `late status change ${String(ev.detail?.status)}`, () => deliver(ev));
    else await deliver(ev);
  }
}

/** A Step Functions retrier, as the definition states it. */
export interface Retrier {
  readonly IntervalSeconds?: number;
  readonly BackoffRate?: number;
  readonly MaxDelaySeconds?: number;
  readonly JitterStrategy?: 'FULL' | 'NONE';
}

/**
 * The wait before retry `n` (1-based) of a retrier, as Step Functions computes it: IntervalSeconds x
 * BackoffRate^(n-1), capped at MaxDelaySeconds, then with JitterStrategy FULL a uniform random
 * fraction of that (`unit` in [0, 1), seeded by the caller). Defaults: 1 s, rate 2.0, no cap, no
 * jitter (Step Functions developer guide, "Handling errors in Step Functions workflows", Retry fields).
 */
export function retryWaitSeconds(r: Retrier, n: number, unit: number): number {
  const base = (r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** (n - 1);
  const capped = r.MaxDelaySeconds !== undefined ? Math.min(base, r.MaxDelaySeconds) : base;
  return r.JitterStrategy === 'FULL' ? capped * unit : capped;
}

/**
 * Simulated seconds an execution waited in its retries: for each state's retry count, the waits of
 * the state's first retrier, jittered with the run's seed. The local engine skips these waits; the
 * books add them up so the report states the time AWS would have spent.
 */
export function simulatedRetryWaitSeconds(retriersOf: (state: string) => ReadonlyArray<Retrier>, retries: Readonly<Record<string, number>>, seed: number, executionKey: string): number {
  let total = 0;
  for (const [state, count] of Object.entries(retries)) {
    const r = retriersOf(state)[0];
    if (!r) continue;
    for (let n = 1; n <= count; n++) total += retryWaitSeconds(r, n, seededUnit(seed, 'jitter', executionKey, state, n));
  }
  return total;
}

/**
 * Wraps an execution's stand-in hooks to enforce the history quota: past `limit` events the run is
 * aborted, and `exceeded()` tells the caller to end it FAILED with `States.Runtime`, outside the
 * workflow's Catch, as Step Functions fails an execution whose history passes the quota.
 */
export function limitHistory<H extends { onStarted: (abort: () => void) => void; onEvent: (event: never) => void }>(
  hooks: H,
  limit: number,
): { hooks: H; exceeded: () => boolean } {
  let events = 0;
  let abort: (() => void) | undefined;
  let over = false;
  const wrapped = {
    ...hooks,
    onStarted: (a: () => void) => {
      abort = a;
      hooks.onStarted(a);
    },
    onEvent: (event: never) => {
      events += 1;
      if (events > limit && !over) {
        over = true;
        abort?.();
        return;
      }
      hooks.onEvent(event);
    },
  } as H;
  return { hooks: wrapped, exceeded: () => over };
}

/** The retriers of every state of an ASL definition, nested maps and parallel branches included. */
export function retriersByState(definition: { States: Record<string, unknown> }): Map<string, Retrier[]> {
  const out = new Map<string, Retrier[]>();
  const walk = (states: Record<string, unknown>): void => {
    for (const [name, raw] of Object.entries(states)) {
      const s = raw as { Retry?: Retrier[]; Iterator?: { States: Record<string, unknown> }; ItemProcessor?: { States: Record<string, unknown> }; Branches?: Array<{ States: Record<string, unknown> }> };
      if (s.Retry) out.set(name, s.Retry);
      if (s.Iterator) walk(s.Iterator.States);
      if (s.ItemProcessor) walk(s.ItemProcessor.States);
      for (const b of s.Branches ?? []) walk(b.States);
    }
  };
  walk(definition.States);
  return out;
}
