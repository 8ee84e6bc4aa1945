import { faultPlan, inMaintenance, producerBroken, startFakeExternalApi, taskFault, TaskRef } from '../local/fake-external-api';

const TZ = 'Asia/Tokyo';

/** Waits until `ok()` holds (a concurrent request has reached the server), at most 10 s. */
async function untilTrue(ok: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('fault plan', () => {
  const plan = faultPlan('default', 42);
  const tick = new Date('2024-11-19T06:00:00Z'); // 15:00 Tokyo
  const keys = Array.from({ length: 2000 }, (_, i) => `order-${i}`);

  it('is a pure function of seed, tick and key', () => {
    const a = keys.map((k) => taskFault(plan, tick, k, TZ));
    const b = keys.map((k) => taskFault(faultPlan('default', 42), new Date(tick), k, TZ));
    expect(a).toEqual(b);
    const other = keys.map((k) => taskFault(faultPlan('default', 43), tick, k, TZ));
    expect(other).not.toEqual(a);
  });

  it('draws transient and permanent faults near the profile rates, transient ones recoverable by the CallApi retries', () => {
    const faults = keys.map((k) => taskFault(plan, tick, k, TZ));
    const transient = faults.filter((f) => f.transientFailures > 0);
    const permanent = faults.filter((f) => f.permanent);
    expect(transient.length / keys.length).toBeGreaterThan(0.03);
    expect(transient.length / keys.length).toBeLessThan(0.07);
    expect(permanent.length).toBeLessThan(30);
    // CallApi retries 4 times: at most 4 failures still end in success.
    expect(Math.max(...transient.map((f) => f.transientFailures))).toBeLessThanOrEqual(4);
    expect(faults.some((f) => f.permanent && f.transientFailures > 0)).toBe(false);
    expect(faults.some((f) => f.slow)).toBe(false); // 15:00 is not the slow tick
  });

  it('makes exactly one task of the noon tick slow', () => {
    const noon = new Date('2024-11-19T03:00:00Z'); // 12:00 Tokyo
    const tickKeys = keys.slice(0, 10);
    const slow = tickKeys.filter((k) => taskFault(plan, noon, k, TZ, tickKeys).slow);
    expect(slow).toHaveLength(1);
  });

  it('gives the hang and the stall of the outside profile to one task each of their ticks, never one with another fault', () => {
    const outside = faultPlan('outside', 42);
    const tickKeys = keys.slice(0, 10);
    const six = new Date('2024-11-18T21:00:00Z'); // 06:00 Tokyo: stopAt
    const seven = new Date('2024-11-18T22:00:00Z'); // 07:00 Tokyo: stallAt
    const hung = tickKeys.filter((k) => taskFault(outside, six, k, TZ, tickKeys).hang);
    const stalled = tickKeys.filter((k) => taskFault(outside, seven, k, TZ, tickKeys).stall);
    expect(hung).toHaveLength(1);
    expect(stalled).toHaveLength(1);
    for (const [t, k] of [
      [six, hung[0]],
      [seven, stalled[0]],
    ] as const) {
      const f = taskFault(outside, t, k, TZ, tickKeys);
      expect(f).toMatchObject({ permanent: false, transientFailures: 0, slow: false });
    }
    // The same tick for two kinds: two different tasks.
    const both = { ...outside, stopAt: '06:00', stallAt: '06:00' };
    const kinds = tickKeys.map((k) => taskFault(both, six, k, TZ, tickKeys)).filter((f) => f.hang || f.stall);
    expect(kinds).toHaveLength(2);
    expect(kinds.some((f) => f.hang && f.stall)).toBe(false);
    // The default profile has none of them.
    expect(tickKeys.some((k) => taskFault(faultPlan('default', 42), six, k, TZ, tickKeys).hang)).toBe(false);
  });

  it('breaks the API producer from producerFailAt for producerFailMinutes, app time zone', () => {
    const outside = faultPlan('outside', 1); // 09:30 for 10 minutes
    expect(producerBroken(outside, new Date('2024-11-19T00:29:00Z'), TZ)).toBe(false); // 09:29
    expect(producerBroken(outside, new Date('2024-11-19T00:30:00Z'), TZ)).toBe(true);
    expect(producerBroken(outside, new Date('2024-11-19T00:39:59Z'), TZ)).toBe(true);
    expect(producerBroken(outside, new Date('2024-11-19T00:40:00Z'), TZ)).toBe(false); // the fix
    expect(producerBroken(faultPlan('default', 1), new Date('2024-11-19T00:30:00Z'), TZ)).toBe(false);
  });

  it('puts the API in maintenance 01:00-04:00 in the app time zone only', () => {
    expect(inMaintenance(plan, new Date('2024-11-18T15:59:00Z'), TZ)).toBe(false); // 00:59
    expect(inMaintenance(plan, new Date('2024-11-18T16:00:00Z'), TZ)).toBe(true); // 01:00
    expect(inMaintenance(plan, new Date('2024-11-18T18:55:00Z'), TZ)).toBe(true); // 03:55
    expect(inMaintenance(plan, new Date('2024-11-18T19:00:00Z'), TZ)).toBe(false); // 04:00
    expect(inMaintenance(faultPlan('none', 42), new Date('2024-11-18T17:00:00Z'), TZ)).toBe(false);
  });
});

describe('fake external API server', () => {
  it('tells the run about a hanging call, and answers a stalling task with slow 503s only during its stall', async () => {
    const plan = { ...faultPlan('outside', 7), maintenance: null, stopAt: '15:00', stallAt: '16:00', stallMinutes: 30 };
    const tick = new Date('2024-11-19T06:00:00Z'); // 15:00 Tokyo
    const stallTick = new Date('2024-11-19T07:00:00Z'); // 16:00 Tokyo
    const keys = ['a', 'b', 'c'];
    const hangKey = keys.find((k) => taskFault(plan, tick, k, TZ, keys).hang)!;
    const stallKey = keys.find((k) => taskFault(plan, stallTick, k, TZ, keys).stall)!;
    let clock = new Date(stallTick.getTime() + 60_000);
    let ref: TaskRef = { tick, key: hangKey, tickKeys: keys };
    const hung: string[] = [];
    const api = await startFakeExternalApi({ plan, timeZone: TZ, now: () => clock, taskOf: () => ref, slowMs: 200, stallMs: 60, onHang: (r) => hung.push(r.key) });
    try {
      const call = async (): Promise<[number, number]> => {
        const t0 = performance.now();
        const status = (await fetch(api.url, { method: 'POST', body: JSON.stringify({}) })).status;
        return [status, performance.now() - t0];
      };
      const [first, firstMs] = await call();
      expect([first, hung]).toEqual([200, [hangKey]]);
      expect(firstMs).toBeGreaterThanOrEqual(150);
      expect((await call())[0]).toBe(200); // only the first call hangs
      ref = { tick: stallTick, key: stallKey, tickKeys: keys };
      const [stalled, stalledMs] = await call();
      expect(stalled).toBe(503);
      expect(stalledMs).toBeGreaterThanOrEqual(40);
      clock = new Date(stallTick.getTime() + 31 * 60_000); // the stall is over: a replay finds the API well
      expect((await call())[0]).toBe(200);
      expect(api.stats).toMatchObject({ hung: 1, stalled: 1, ok: 2 });
    } finally {
      await api.close();
    }
  });

  it('answers a task by its plan: 503 in maintenance, then its transient failures, then 200', async () => {
    const plan = faultPlan('heavy', 7);
    const tick = new Date('2024-11-19T06:00:00Z');
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    const key = keys.find((k) => taskFault(plan, tick, k, TZ).transientFailures >= 2)!;
    const fault = taskFault(plan, tick, key, TZ);
    let clock = new Date('2024-11-18T16:00:00Z'); // 01:00 Tokyo: maintenance in heavy
    const ref: TaskRef = { tick, key, tickKeys: [key] };
    const api = await startFakeExternalApi({ plan, timeZone: TZ, now: () => clock, taskOf: () => ref, slowMs: 50 });
    try {
      const call = async (): Promise<number> => (await fetch(api.url, { method: 'POST', body: JSON.stringify({ key }) })).status;
      expect(await call()).toBe(503);
      clock = new Date('2024-11-19T06:00:00Z');
      const statuses: number[] = [];
      for (let i = 0; i <= fault.transientFailures; i++) statuses.push(await call());
      expect(statuses.slice(0, -1).every((s) => s === 500 || s === 429)).toBe(true);
      expect(statuses.at(-1)).toBe(200);
      expect(api.stats).toMatchObject({ maintenance: 1, transient: fault.transientFailures, ok: 1 });
    } finally {
      await api.close();
    }
  });

  it('honours Idempotency-Key: the stored answer for a repeat (nothing applied again), 409 while the first is still being answered', async () => {
    const plan = faultPlan('outside', 42);
    const tick = new Date('2024-11-18T21:00:00Z'); // 06:00 Tokyo: one task's first call hangs (answered after slowMs)
    const keys = ['a', 'b', 'c'];
    const hangKey = keys.find((k) => taskFault(plan, tick, k, TZ, keys).hang)!;
    const ref: TaskRef = { tick, key: hangKey, tickKeys: keys };
    // The slow answer takes 2 s of real time: the concurrent request below must arrive within it, on a loaded machine too.
    const api = await startFakeExternalApi({ plan, timeZone: TZ, now: () => new Date('2024-11-19T06:00:00Z'), taskOf: () => ref, slowMs: 2_000 });
    const call = async (key?: string) => {
      const res = await fetch(api.url, { method: 'POST', body: '{}', headers: key ? { 'idempotency-key': key } : {} });
      return [res.status, res.headers.get('idempotent-replayed')];
    };
    try {
      const first = call('t#CallApi');
      // Awaited below; should an expectation fail first, closing the API rejects it unobserved.
      first.catch(() => undefined);
      await untilTrue(() => api.stats.hung === 1); // the first request is being answered
      // The first request of the key is still being answered: a concurrent one is refused, not applied.
      expect(await call('t#CallApi')).toEqual([409, null]);
      expect(await first).toEqual([200, null]);
      // A replay's request with the same key: the stored answer, applied once in all.
      expect(await call('t#CallApi')).toEqual([200, 'true']);
      expect(api.sideEffects.count('t#CallApi')).toBe(1);
      // Without the key the API cannot tell a repeat: applied again, a duplicated side effect.
      await call();
      await call();
      expect(api.sideEffects.duplicatedSideEffects()).toBe(1);
      expect(api.stats).toMatchObject({ idempotentReplays: 1, idempotencyConflicts: 1, hung: 1, ok: 2 });
    } finally {
      await api.close();
    }
  });

  it('answers a slow request by its simulated due time: a replay after it gets the stored answer, not 409', async () => {
    const plan = faultPlan('outside', 42);
    const tick = new Date('2024-11-18T21:00:00Z');
    const keys = ['a', 'b', 'c'];
    const hangKey = keys.find((k) => taskFault(plan, tick, k, TZ, keys).hang)!;
    const ref: TaskRef = { tick, key: hangKey, tickKeys: keys };
    let clock = new Date('2024-11-19T06:00:00Z');
    // The slow answer takes a (real) minute; the offline day's clock jumps half an hour in between.
    const api = await startFakeExternalApi({ plan, timeZone: TZ, now: () => clock, taskOf: () => ref, slowMs: 60_000 });
    const post = () => fetch(api.url, { method: 'POST', body: '{}', headers: { 'idempotency-key': 't#CallApi' } });
    try {
      const first = post();
      // Awaited below; should an expectation fail first, closing the API rejects it unobserved.
      first.catch(() => undefined);
      await untilTrue(() => api.stats.hung === 1); // the first request is being answered
      expect((await post()).status).toBe(409); // still due: a concurrent request is refused
      clock = new Date(clock.getTime() + 30 * 60_000);
      const replay = await post();
      expect([replay.status, replay.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
      expect((await first).status).toBe(200); // the first caller got its answer at the due time
      expect(api.sideEffects.count('t#CallApi')).toBe(1);
    } finally {
      await api.close();
    }
  });
});
