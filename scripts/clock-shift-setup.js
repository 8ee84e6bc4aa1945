/**
 * Jest setup file of scripts/jest-clock-shift.config.js: argument-less `new Date()` and `Date.now()`
 * read CLOCK_SHIFT_DAYS days ahead, so a test that compares a fixed date with the real clock through
 * production code fails now instead of in CI on some later day. Only this test process moves:
 * fauxqs runs in a worker thread on the real clock, so under a shift (a) SQS SentTimestamp ages are
 * off by the shift (`newerThan`, the sweeper's and `status`'s oldest age) and (b) the SDK takes every
 * SQS answer's Date header for clock skew and retries its errors (a fault injected once is hit three
 * times). Failures of those two kinds are the tool's, not the test's.
 */
const days = Number(process.env.CLOCK_SHIFT_DAYS || 0);
if (days) {
  const shiftMs = days * 86_400_000;
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + shiftMs);
      else super(...args);
    }
    static now() {
      return RealDate.now() + shiftMs;
    }
  }
  globalThis.Date = ShiftedDate;
}
