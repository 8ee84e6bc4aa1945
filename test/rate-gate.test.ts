import { AdaptiveRateGate } from '../lambdas/shared/rate-gate';

/** The shared pacing's start: a blind pause at the first throttle, or the quota's hint. Fake clock. */
function gate(hintRate?: number) {
  let t = 0;
  const g = new AdaptiveRateGate({ now: () => t, sleep: async (ms) => void (t += ms), ...(hintRate ? { hintRate } : {}) });
  return { g, at: () => t, advance: (ms: number) => void (t += ms) };
}

test('without a hint, the first throttle pauses everyone blind for a second, rate unknown', async () => {
  const { g, at } = gate();
  await g.acquire(Infinity);
  g.onSuccess();
  g.onThrottle();
  expect(g.currentRate).toBeNull();
  await g.acquire(Infinity);
  expect(at()).toBe(1000);
});

test('with a hint (the starter\'s share of the configured refill), the first throttle paces at it at once', async () => {
  const { g, at } = gate(75);
  await g.acquire(Infinity);
  g.onThrottle();
  expect(g.currentRate).toBe(75);
  const slots: number[] = [];
  for (let i = 0; i < 4; i++) {
    await g.acquire(Infinity);
    slots.push(at());
  }
  // One slot every 1000/75 ms after a pause of one slot (20 ms at least): no blind second lost.
  expect(slots.map((s) => Math.round(s))).toEqual([20, 33, 47, 60]);
});

test('the measurement at the next throttle replaces the hint', async () => {
  const { g, advance } = gate(75);
  g.onThrottle();
  // 300 successes over 2 s: the bucket gives this caller 150/s, twice the hint.
  for (let i = 0; i < 300; i++) {
    advance(2000 / 300);
    g.onSuccess();
  }
  g.onThrottle();
  expect(g.currentRate).toBeCloseTo(150 * 0.95, 0);
});
