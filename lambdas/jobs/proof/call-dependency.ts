import { createStepHandler } from '../../shared/step';
import { PROOF_STEPS } from '../../../lib/config/proof-job';
import { ddb, proofTable } from './clients';
import { callKey, countCall } from './ledger';
import { parseProofParams } from './logic';

/**
 * ProofCallDependency: declares `proof-dependency` (config `dependsOn`), so the step wrapper refuses
 * to run it while the dependency is held. Its body is the "call into the dependency": it counts it,
 * and the prover's hold scenario checks that count stays 0 under the hold.
 */
export const handler = createStepHandler(async ({ task }) => {
  parseProofParams(task.params);
  const call = await countCall(ddb, proofTable(), callKey(task.taskId, task.attempt, PROOF_STEPS.callDependency));
  return { called: true, call };
});
