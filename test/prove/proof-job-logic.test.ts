import { act, OVERSIZE_BYTES, parseProofParams, ProofParams } from '../../lambdas/jobs/proof/logic';
import { checkStepOutput } from '../../lambdas/shared/step';
import { MAX_STEP_OUTPUT_BYTES } from '../../lambdas/shared/limits';

const base: ProofParams = { runId: 'p20261206031907f023', scenario: 'succeed', behaviour: 'succeed' };
const deps = (calls: number[], fixed = false, signal = new AbortController().signal) => {
  let n = 0;
  return { countCall: async () => (calls.push(++n), n), isFixed: async () => fixed, signal };
};

test('transient fails exactly failTimes calls with the retryable error, then succeeds', async () => {
  const calls: number[] = [];
  const d = deps(calls);
  const p = { ...base, behaviour: 'transient' as const, failTimes: 2 };
  await expect(act(p, d)).rejects.toMatchObject({ name: 'ProofTransientError' });
  await expect(act(p, d)).rejects.toMatchObject({ name: 'ProofTransientError' });
  await expect(act(p, d)).resolves.toMatchObject({ acted: true, call: 3 });
});

test('fixable fails with ProofNotFixedError until the run is fixed', async () => {
  await expect(act({ ...base, behaviour: 'fixable' }, deps([], false))).rejects.toMatchObject({ name: 'ProofNotFixedError' });
  await expect(act({ ...base, behaviour: 'fixable' }, deps([], true))).resolves.toMatchObject({ fixed: true });
});

test('hang ends when the step is aborted', async () => {
  const c = new AbortController();
  const out = act({ ...base, behaviour: 'hang', hangSeconds: 900 }, deps([], false, c.signal));
  setTimeout(() => c.abort(), 10);
  await expect(out).resolves.toMatchObject({ hung: true });
});

test('oversize returns more than any step may, so the step wrapper refuses it', async () => {
  const out = await act({ ...base, behaviour: 'oversize' }, deps([]));
  expect(OVERSIZE_BYTES).toBeGreaterThan(MAX_STEP_OUTPUT_BYTES);
  expect(() => checkStepOutput(out, MAX_STEP_OUTPUT_BYTES, null)).toThrow(expect.objectContaining({ name: 'InvalidStepOutputError' }));
});

test("params without the prover's run id or with an unknown behaviour are refused", () => {
  expect(() => parseProofParams({ ...base, runId: 'x' })).toThrow(/runId/);
  expect(() => parseProofParams({ ...base, behaviour: 'explode' } as never)).toThrow(/behaviour/);
  expect(parseProofParams({ ...base })).toEqual(base);
});
