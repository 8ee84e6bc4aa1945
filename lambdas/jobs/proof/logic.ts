import { TaskError } from '../../shared/errors';
import { JsonValue } from '../../shared/json';

/**
 * What a proof task does, chosen by its params (the prover writes them, docs/prove.md). Every task
 * carries the prover's run id, so the prover only ever looks at, replays or deletes its own.
 */

/** ProofAct's behaviours. */
export const BEHAVIOURS = ['succeed', 'transient', 'fixable', 'hang', 'oversize'] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

/** Params of a proof task. */
export interface ProofParams {
  /** The prover's run id (`p` + UTC time + random). */
  readonly runId: string;
  /** Scenario name (for people reading the spool). */
  readonly scenario: string;
  readonly behaviour: Behaviour;
  /** `transient`: attempts that fail before one succeeds (fewer than the step's retries + 1). */
  readonly failTimes?: number;
  /** `hang`: seconds to wait (the step's deadline cuts it shorter). */
  readonly hangSeconds?: number;
}

/** Retryable: the step's Retry sees it (the config's retryableErrors). */
export class ProofTransientError extends TaskError {
  constructor(message: string) {
    super(message);
  }
}

/** Not retryable: the task is spooled until the run's fix switch is set and it is replayed. */
export class ProofNotFixedError extends TaskError {
  constructor(message: string) {
    super(message);
  }
}

/** The task's params are not a proof task's. */
export class ProofParamsError extends TaskError {
  constructor(message: string) {
    super(message);
  }
}

/** Reads and checks a proof task's params. */
export function parseProofParams(params: JsonValue): ProofParams {
  const p = params as Record<string, unknown> | null;
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw new ProofParamsError('proof params must be an object');
  if (typeof p.runId !== 'string' || !/^p[0-9A-Za-z]{4,40}$/.test(p.runId)) throw new ProofParamsError('proof params: runId must be the prover\'s run id');
  if (typeof p.scenario !== 'string' || !/^[a-z0-9-]{1,40}$/.test(p.scenario)) throw new ProofParamsError('proof params: scenario must be a scenario name');
  if (!BEHAVIOURS.includes(p.behaviour as Behaviour)) throw new ProofParamsError(`proof params: behaviour must be one of ${BEHAVIOURS.join(', ')}`);
  if (p.failTimes !== undefined && !(Number.isInteger(p.failTimes) && (p.failTimes as number) >= 0 && (p.failTimes as number) <= 10)) throw new ProofParamsError('proof params: failTimes must be an integer 0-10');
  if (p.hangSeconds !== undefined && !(typeof p.hangSeconds === 'number' && p.hangSeconds > 0 && p.hangSeconds <= 900)) throw new ProofParamsError('proof params: hangSeconds must be 1-900');
  return p as unknown as ProofParams;
}

/** What ProofAct needs from the world (the ledger, time). */
export interface ActDeps {
  /** Counts this call of the step (for this task and attempt) and returns the count. */
  readonly countCall: () => Promise<number>;
  readonly isFixed: (runId: string) => Promise<boolean>;
  readonly signal: AbortSignal;
}

/** Bytes of the output an `oversize` task returns: over any step's budget (64 KiB at most, limits.ts). */
export const OVERSIZE_BYTES = 80 * 1024;

/** ProofAct: does what the params say. */
export async function act(params: ProofParams, deps: ActDeps): Promise<JsonValue> {
  const call = await deps.countCall();
  switch (params.behaviour) {
    case 'succeed':
      return { acted: true, call };
    case 'transient':
      if (call <= (params.failTimes ?? 1)) throw new ProofTransientError(`proof: transient failure ${call} of ${params.failTimes ?? 1}`);
      return { acted: true, call };
    case 'fixable':
      if (!(await deps.isFixed(params.runId))) throw new ProofNotFixedError('proof: fails until the prover sets the run\'s fix switch');
      return { acted: true, fixed: true, call };
    case 'hang':
      await new Promise<void>((resolve) => {
        // Unref'd: a stopped execution's Lambda runs on to its own timeout in AWS, but a local run must not keep the process alive.
        const t = setTimeout(resolve, (params.hangSeconds ?? 900) * 1000);
        t.unref?.();
        deps.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      return { acted: true, hung: true };
    case 'oversize':
      return { acted: true, padding: 'x'.repeat(OVERSIZE_BYTES) };
  }
}
