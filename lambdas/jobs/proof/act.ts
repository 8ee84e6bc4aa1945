import { createStepHandler } from '../../shared/step';
import { PROOF_STEPS } from '../../../lib/config/proof-job';
import { ddb, proofTable } from './clients';
import { callKey, countCall, isFixed } from './ledger';
import { act, parseProofParams } from './logic';

/** ProofAct: succeeds, fails transiently, fails until fixed, hangs or returns too much, as its params say. */
export const handler = createStepHandler(({ task, signal }) =>
  act(parseProofParams(task.params), {
    countCall: () => countCall(ddb, proofTable(), callKey(task.taskId, task.attempt, PROOF_STEPS.act)),
    isFixed: (runId) => isFixed(ddb, proofTable(), runId),
    signal,
  }),
);
