import { isPlainJson, JsonValue } from './json';

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
}

/** Step Functions' limit on an execution's input (and on any state's input/output). */
export const MAX_EXECUTION_INPUT_BYTES = 256 * 1024;

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
  if (v !== 1) throw new EnvelopeError('v', `unsupported envelope version ${JSON.stringify(v)}`);
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
  return {
    v: 1,
    taskId: o.taskId as string,
    job: o.job as string,
    key: o.key as string,
    params: o.params as JsonValue,
    attempt: o.attempt as number,
    scheduledTime: o.scheduledTime as string,
  };
}
