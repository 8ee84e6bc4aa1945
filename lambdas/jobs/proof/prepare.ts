import { createStepHandler } from '../../shared/step';
import { PROOF_STEPS } from '../../../lib/config/proof-job';
import { ddb, proofTable } from './clients';
import { callKey, countCall } from './ledger';
import { parseProofParams } from './logic';

/** ProofPrepare: counts its call (a replay resumed at a later step must not run it again) and passes on. */
export const handler = createStepHandler(async ({ task }) => {
  parseProofParams(task.params);
  const call = await countCall(ddb, proofTable(), callKey(task.taskId, task.attempt, PROOF_STEPS.prepare));
  return { prepared: true, call };
});
