import { createProducerHandler } from '../../producer/runtime';
import { tickStamp } from '../../shared/names';
import { TaskSpec } from '../../producer/logic';
import { ddb, proofTable } from './clients';
import { readPlan } from './ledger';

/**
 * The proof job's producer: the tasks of a tick are the plan the prover wrote for it (none when it
 * wrote none, e.g. the schedule itself fired).
 */
export const handler = createProducerHandler(async ({ scheduledTime }) => (await readPlan(ddb, proofTable(), tickStamp(scheduledTime))) as TaskSpec[]);
