import { observeSideEffects, sideEffectApplied } from '../lambdas/shared/side-effects';
import { SideEffectLedger } from '../local/side-effects';

test('the ledger counts applications per key; a second one of a key is a duplicated side effect', () => {
  const ledger = new SideEffectLedger();
  ledger.apply('t1#ProcessPart#0');
  ledger.apply('t1#ProcessPart#1');
  ledger.apply('t1#ProcessPart#1');
  ledger.apply('t1#ProcessPart#1');
  ledger.apply('t2#CallApi');
  // An operator's start-over has keys of its own: not a duplicate of the first run.
  ledger.apply('t2#r2#CallApi');
  expect(ledger.count('t1#ProcessPart#1')).toBe(3);
  expect(ledger.duplicated()).toEqual([['t1#ProcessPart#1', 3]]);
  expect(ledger.duplicatedSideEffects()).toBe(2);
  expect(ledger.duplicatedSideEffects('t2')).toBe(0);
});

test('steps report to the installed observer only while it is installed; one observer at a time; none in Lambda', () => {
  sideEffectApplied('before'); // nobody listens: nothing happens (as in Lambda)
  const ledger = new SideEffectLedger();
  const remove = ledger.observeSteps();
  try {
    expect(() => observeSideEffects({ applied: () => undefined })).toThrow(/another side-effect observer/);
    sideEffectApplied('k');
  } finally {
    remove();
  }
  sideEffectApplied('k');
  expect([ledger.count('before'), ledger.count('k')]).toEqual([0, 1]);
});
