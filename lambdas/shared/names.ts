import { createHash } from 'node:crypto';

/** Step Functions execution names: 1-80 characters of [A-Za-z0-9_-] (safe for CloudWatch and URLs). */
export const MAX_EXECUTION_NAME = 80;
const SAFE = /[^A-Za-z0-9_-]/g;

function shortHash(s: string, n = 10): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

/** `2026-11-25T03:05:00.000Z` -> `20261125T0305Z` (UTC, so DST never makes two ticks collide). */
export function tickStamp(scheduledTime: Date): string {
  const iso = scheduledTime.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
}

/**
 * Stable task id: job, tick and key. The same tick delivered twice by the scheduler gives the
 * same id, which is what makes starting idempotent. Unsafe characters in the key are replaced
 * and a hash of the original key is appended, so two keys never map to one id.
 */
export function taskIdFor(job: string, scheduledTime: Date, key: string): string {
  const safeKey = key.replace(SAFE, '_');
  const suffix = safeKey === key ? '' : `_${shortHash(key, 8)}`;
  return `${job}-${tickStamp(scheduledTime)}-${safeKey}${suffix}`;
}

/**
 * Deterministic execution name for one attempt of a task: the same task and attempt always get
 * the same name, so Step Functions itself refuses a second start (ExecutionAlreadyExists, or the
 * running execution when the input is identical). Long ids keep a readable prefix and a hash.
 */
export function executionNameFor(taskId: string, attempt: number): string {
  const tail = `-a${attempt}`;
  const base = taskId.replace(SAFE, '_');
  if (base.length + tail.length <= MAX_EXECUTION_NAME && base === taskId) return `${base}${tail}`;
  const hash = shortHash(taskId, 12);
  const keep = MAX_EXECUTION_NAME - tail.length - hash.length - 1;
  return `${base.slice(0, keep)}-${hash}${tail}`;
}

/** ARN of the execution named `name` of a state machine (what Step Functions gives it). */
export function executionArnFor(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}
