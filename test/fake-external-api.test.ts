import { faultPlan, inMaintenance, startFakeExternalApi, taskFault, TaskRef } from '../local/fake-external-api';

const TZ = 'Asia/Tokyo';

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

  it('puts the API in maintenance 01:00-04:00 in the app time zone only', () => {
    expect(inMaintenance(plan, new Date('2024-11-18T15:59:00Z'), TZ)).toBe(false); // 00:59
    expect(inMaintenance(plan, new Date('2024-11-18T16:00:00Z'), TZ)).toBe(true); // 01:00
    expect(inMaintenance(plan, new Date('2024-11-18T18:55:00Z'), TZ)).toBe(true); // 03:55
    expect(inMaintenance(plan, new Date('2024-11-18T19:00:00Z'), TZ)).toBe(false); // 04:00
    expect(inMaintenance(faultPlan('none', 42), new Date('2024-11-18T17:00:00Z'), TZ)).toBe(false);
  });
});

describe('fake external API server', () => {
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
});
