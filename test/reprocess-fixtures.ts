/** Spool messages for the reprocess tests, built from the shared contract (lambdas/shared). */
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { SPOOL_ATTR_ERROR, SPOOL_ATTR_JOB, SPOOL_ATTR_KIND, SpoolKind, SpoolMessage } from '../lambdas/shared/spool-message';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
export const SM_A = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:JobA`;
export const SM_B = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:JobB`;
export const SM_UNKNOWN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:Removed`;

export function envelope(job: string, key: string, attempt = 1): TaskEnvelope {
  return { v: 1, taskId: `${job}-20261125T0300Z-${key}`, job, key, params: { email: `${key}@example.com` }, attempt, scheduledTime: '2026-11-25T03:00:00.000Z' };
}

export function spoolMessage(opts: {
  job?: string;
  key: string;
  attempt?: number;
  kind?: SpoolKind;
  error?: string;
  stateMachineArn?: string;
  executionArn?: string | null;
}): SpoolMessage {
  const job = opts.job ?? 'job-a';
  const kind = opts.kind ?? 'ExecutionFailed';
  const input = kind === 'ProducerFailed' ? null : envelope(job, opts.key, opts.attempt ?? 1);
  return {
    version: 1,
    kind,
    job,
    taskId: input?.taskId ?? `${job}-20261125T0300Z-producer`,
    input,
    error: opts.error ?? 'ExternalApiUnavailableError',
    cause: '{"errorMessage":"503"}',
    failedState: kind === 'ProducerFailed' ? 'Producer' : 'CallApi',
    executionArn: opts.executionArn === undefined ? null : opts.executionArn,
    stateMachineArn: opts.stateMachineArn ?? SM_A,
  };
}

/** SQS message attributes as the spooling side sets them. */
export function spoolAttributes(m: { job: string; error: string; kind: string }) {
  return {
    [SPOOL_ATTR_JOB]: { DataType: 'String', StringValue: m.job },
    [SPOOL_ATTR_ERROR]: { DataType: 'String', StringValue: m.error },
    [SPOOL_ATTR_KIND]: { DataType: 'String', StringValue: m.kind },
  };
}
