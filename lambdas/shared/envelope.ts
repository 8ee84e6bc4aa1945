import { isPlainJson, JsonValue } from './json';
import { MAX_ENVELOPE_BYTES } from './limits';
import { markParamFree } from './safe-error';

/**
 * The task envelope: the input of every execution and the payload the spool keeps for replay.
 * It is versioned plain JSON. Readers must accept every version they ever wrote: a task spooled
 * before a deploy is replayed days after it (see `parseEnvelope`).
 */
export interface TaskEnvelope {
  /** Envelope format version. */
  readonly v: 1;
  /** Stable id of the task across attempts and replays (see names.ts). */
  readonly taskId: string;
  /** Job name; also the `module` column of the parameter log. */
  readonly job: string;
  /** The task key the producer chose, unique within one tick of the job. */
  readonly key: string;
  /** The producer's params, plain JSON, passed to every step unchanged. */
  readonly params: JsonValue;
  /** 1 for the scheduled run, +1 for each replay from the spool. */
  readonly attempt: number;
  /** The schedule tick this task belongs to, ISO-8601 UTC. */
  readonly scheduledTime: string;
  /**
   * Set on a replay that resumes at the step that failed (reprocess `from: "failed-step"`): the
   * execution enters `step` with `input` as that step's `previous`, so the steps that succeeded
   * (and their side effects) are not run again. Absent on scheduled runs and on replays that start over.
   */
  readonly resume?: ResumePoint;
  /**
   * Version of the job's params schema the producer validated `params` against (its params module's
   * `version`); absent when the job declares no schema, or the task predates schemas (read as 1).
   * A step given older params migrates them with the job's `migrate` (lambdas/shared/params.ts).
   */
  readonly paramsVersion?: number;
  /**
   * The task's seal key (32 random bytes, base64url; lambdas/shared/safe-error.ts): a step's error
   * message leaves the Lambda sealed under it, and only a reader of the envelope (inside the lock)
   * can open it. Set by the producer; absent in envelopes written before it existed.
   */
  readonly seal?: string;
  /**
   * Set by a replay that an operator started over (`from: "start"`): the attempt from which every
   * step runs afresh. Step records (idempotent steps) of earlier attempts are not reused, so steps
   * whose output was wrong really run again; later replays keep it. Absent: no start-over yet.
   */
  readonly rerunFrom?: number;
}

/** Where a resumed execution enters the workflow, and what the step is given. */
export interface ResumePoint {
  /** A top-level step name of the job (a parallel group or map is resumed as a whole). */
  readonly step: string;
  /** The `previous` the step was given when it failed (the output of the step before it). */
  readonly input: JsonValue;
}

/**
 * Largest envelope a producer admits: not Step Functions' 256 KiB input quota, but what still
 * leaves room on every path of the workflow (see limits.ts).
 */
export const MAX_EXECUTION_INPUT_BYTES = MAX_ENVELOPE_BYTES;

export const ENVELOPE_VERSION = 1 as const;

/** Size in bytes of the envelope as it would be sent to StartExecution. */
export function envelopeBytes(envelope: TaskEnvelope): number {
  return Buffer.byteLength(JSON.stringify(envelope), 'utf8');
}

/** Thrown by parseEnvelope; `field` names what is wrong. */
export class EnvelopeError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'EnvelopeError';
    // Field names only, never a value (the messages below): kept when the error leaves a Lambda.
    markParamFree(this);
  }
}

/**
 * Validates a value read back from the spool or an execution input and returns it as the
 * current envelope version. Envelopes without `v` (none were ever written, but a hand-made
 * replay may lack it) are read as version 1.
 */
export function parseEnvelope(value: unknown): TaskEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EnvelopeError('input', 'the task envelope must be a JSON object');
  }
  const o = value as Record<string, unknown>;
  const v = o.v ?? 1;
  if (v !== 1) throw new EnvelopeError('v', `unsupported envelope version (${typeof v}); this code reads version 1`);
  for (const field of ['taskId', 'job', 'key', 'scheduledTime'] as const) {
    if (typeof o[field] !== 'string' || (o[field] as string).length === 0) {
      throw new EnvelopeError(field, `envelope field "${field}" must be a non-empty string`);
    }
  }
  if (!Number.isInteger(o.attempt) || (o.attempt as number) < 1) {
    throw new EnvelopeError('attempt', 'envelope field "attempt" must be an integer >= 1');
  }
  if (!('params' in o) || !isPlainJson(o.params)) {
    throw new EnvelopeError('params', 'envelope field "params" must be plain JSON');
  }
  if (Number.isNaN(Date.parse(o.scheduledTime as string))) {
    throw new EnvelopeError('scheduledTime', 'envelope field "scheduledTime" must be an ISO-8601 time');
  }
  let resume: ResumePoint | undefined;
  if (o.resume !== undefined && o.resume !== null) {
    const r = o.resume as Record<string, unknown>;
    if (typeof r !== 'object' || Array.isArray(r) || typeof r.step !== 'string' || r.step === '' || !('input' in r) || !isPlainJson(r.input)) {
      throw new EnvelopeError('resume', 'envelope field "resume" must be {"step": "<step name>", "input": <plain JSON>}');
    }
    resume = { step: r.step, input: r.input as JsonValue };
  }
  if (o.paramsVersion !== undefined && !(Number.isInteger(o.paramsVersion) && (o.paramsVersion as number) >= 1)) {
    throw new EnvelopeError('paramsVersion', 'envelope field "paramsVersion" must be an integer >= 1');
  }
  if (o.rerunFrom !== undefined && (!Number.isInteger(o.rerunFrom) || (o.rerunFrom as number) < 1 || (o.rerunFrom as number) > (o.attempt as number))) {
    throw new EnvelopeError('rerunFrom', 'envelope field "rerunFrom" must be an integer from 1 to the attempt');
  }
  return {
    v: 1,
    taskId: o.taskId as string,
    job: o.job as string,
    key: o.key as string,
    params: o.params as JsonValue,
    attempt: o.attempt as number,
    scheduledTime: o.scheduledTime as string,
    ...(resume ? { resume } : {}),
    ...(o.paramsVersion !== undefined ? { paramsVersion: o.paramsVersion as number } : {}),
    ...(typeof o.seal === 'string' && o.seal !== '' ? { seal: o.seal } : {}),
    ...(o.rerunFrom !== undefined ? { rerunFrom: o.rerunFrom as number } : {}),
  };
}

/** The envelope without its resume point (what the producer wrote). */
export function withoutResume(envelope: TaskEnvelope): TaskEnvelope {
  if (envelope.resume === undefined) return envelope;
  const { resume: _resume, ...rest } = envelope;
  return rest;
}
