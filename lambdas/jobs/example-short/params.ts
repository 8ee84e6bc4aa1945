import { z } from 'zod';

/** Params of one example-short task: a meter reading to price and post (docs/workflow.md, "Params with a schema"). */
export const schema = z.object({
  meter: z.string().min(1),
  units: z.number().int().min(0).max(1_000_000),
});

export const version = 1;
