import { z } from 'zod';

/**
 * Params of one example-api task: the producer checks them (a task that fails goes to the quarantine
 * with the path of the problem), the steps get them typed. Named by the job's `params.schema` in the
 * config; synth reads it (docs/workflow.md, "Params with a schema").
 */
export const schema = z.object({
  orderId: z.string().min(1),
  customer: z.object({ name: z.string().min(1), email: z.string().regex(/^[^@\s]+@[^@\s]+$/) }),
  amount: z.number().positive(),
  /** How the fake API (local/) is asked to behave; the real API ignores it. */
  simulate: z.enum(['transient', 'permanent', 'slow']).optional(),
});

/** Bump with a `migrate` when a change would refuse params already spooled (docs/workflow.md). */
export const version = 1;
