import { ReconciledMachine } from './logic';

/** Environment variables the Reconciler construct sets (besides the capture's, lambdas/execution-capture CAPTURE_ENV). */
export const RECONCILE_ENV = {
  /** JSON `[{ "arn": "<state machine ARN>", "maxRunSeconds": <execution timeout> }, ...]`. */
  machines: 'RECONCILE_MACHINES',
  /** The capture's failures queue (ARN-only on-failure records), drained each run. Unset: not drained. */
  captureFailuresQueueUrl: 'CAPTURE_FAILURES_QUEUE_URL',
} as const;

/** Parses RECONCILE_MACHINES; the message names the variable. */
export function parseMachinesEnv(json: string): ReadonlyArray<ReconciledMachine> {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new Error(`${RECONCILE_ENV.machines} must be a JSON list; redeploy the stack`);
  }
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${RECONCILE_ENV.machines} must be a non-empty JSON list; redeploy the stack`);
  return v.map((m, i) => {
    const o = m as Partial<ReconciledMachine> | null;
    if (typeof o?.arn !== 'string' || !o.arn.includes(':stateMachine:') || !Number.isInteger(o.maxRunSeconds) || (o.maxRunSeconds as number) <= 0) {
      throw new Error(`${RECONCILE_ENV.machines}[${i}] must be {"arn": "<state machine ARN>", "maxRunSeconds": <positive integer>}; redeploy the stack`);
    }
    return { arn: o.arn, maxRunSeconds: o.maxRunSeconds as number };
  });
}
