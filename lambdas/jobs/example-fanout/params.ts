import { z } from 'zod';

/**
 * Params of one example-fanout task (docs/workflow.md, "Params with a schema"). `account` is the
 * job's exclusiveBy field: synth refuses an exclusiveBy that names no field of this schema.
 */
/** Most parts a task may have (the map's maxItems in the config). */
export const MAX_PARTS = 50;

export const schema = z.object({
  account: z.string().min(1),
  parts: z.number().int().min(1).max(MAX_PARTS),
  failPart: z.number().int().min(0).optional(),
  failAttempts: z.number().int().min(1).optional(),
});

export const version = 1;
