/**
 * Handlers of different functions that share one process (the live stage) each read their own
 * environment, even when they read it after an await while another function's handler runs.
 */
import { installHandlerEnv } from '../local/handler-env';

const tick = () => new Promise<void>((r) => setImmediate(r));

test('two interleaved invocations each read their own environment after awaits; outside, the process environment', async () => {
  process.env.HANDLER_ENV_TEST_OUTSIDE = 'process';
  const env = installHandlerEnv();
  try {
    const seen: string[] = [];
    const handler = async (name: string) => {
      await tick();
      seen.push(`${name}:${process.env.TABLE ?? 'unset'}:${process.env.HANDLER_ENV_TEST_OUTSIDE ?? 'unset'}`);
      await tick();
      process.env.WRITTEN = name;
      await tick();
      seen.push(`${name}:${process.env.WRITTEN}:${Object.keys(process.env).sort().join(',')}`);
    };
    await Promise.all([env.run({ TABLE: 'proof-table' }, () => handler('step')), env.run({ QUEUE: 'spool' }, () => handler('capture'))]);
    expect(seen.sort()).toEqual(['capture:capture:QUEUE,WRITTEN', 'capture:unset:unset', 'step:proof-table:unset', 'step:step:TABLE,WRITTEN']);
    // Outside any invocation: the process's own environment, untouched by the handlers' writes.
    expect(process.env.HANDLER_ENV_TEST_OUTSIDE).toBe('process');
    expect(process.env.WRITTEN).toBeUndefined();
    expect('TABLE' in process.env).toBe(false);
  } finally {
    env.restore();
    delete process.env.HANDLER_ENV_TEST_OUTSIDE;
  }
});

test('restore puts the original process.env back', () => {
  const original = process.env;
  const env = installHandlerEnv();
  expect(process.env).not.toBe(original);
  env.restore();
  expect(process.env).toBe(original);
});
