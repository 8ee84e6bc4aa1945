import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CaptureResult, executionArnOf } from '../execution-capture/logic';

/**
 * The capture's last resort, drained by the reconciler. When the status-change capture fails after
 * Lambda's two retries, Lambda writes the invocation record (AWS Lambda developer guide,
 * "Capturing records of asynchronous invocations": `requestPayload` is the event) to the capture's
 * failures queue, which is encrypted with an SQS-managed key, not the params key: the record holds
 * only the event, and a status-change event of a state machine with a customer managed key carries
 * no input or output (AWS Step Functions developer guide, "Data at rest encryption"), so the
 * execution ARN is all there is and all that is needed. A problem with the params key cannot then
 * drop the record too. Each run captures the ARN again (the capture mark makes that safe) and
 * deletes the record once captured; a record that still fails stays for the next run.
 */

/** What one drain did (ids only). */
export interface CaptureFailuresSummary {
  received: number;
  captured: number;
  /** Still failing (or busy): left for the next run. */
  left: number;
  /** Not a record with an execution ARN: left for a person (its alarm pages). */
  invalid: number;
}

/** Execution ARN of one on-failure record, or null. */
export function executionArnOfRecord(body: string | undefined): string | null {
  try {
    const o = JSON.parse(body ?? '') as { requestPayload?: unknown };
    return executionArnOf(o.requestPayload);
  } catch {
    return null;
  }
}

/** Receives up to `maxMessages` records and captures each execution again. */
export async function drainCaptureFailures(
  deps: { sqs: SQSClient; queueUrl: string; capture: (arn: string) => Promise<CaptureResult>; maxMessages?: number; visibilitySeconds?: number },
): Promise<CaptureFailuresSummary> {
  const summary: CaptureFailuresSummary = { received: 0, captured: 0, left: 0, invalid: 0 };
  const max = deps.maxMessages ?? 100;
  while (summary.received < max) {
    const out = await deps.sqs.send(new ReceiveMessageCommand({ QueueUrl: deps.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: deps.visibilitySeconds ?? 300 }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) break;
    summary.received += messages.length;
    const done: string[] = [];
    for (const m of messages) {
      const arn = executionArnOfRecord(m.Body);
      if (!arn) {
        summary.invalid++;
        continue;
      }
      try {
        const r = await deps.capture(arn);
        if (r.outcome === 'busy') summary.left++;
        else {
          summary.captured++;
          done.push(m.ReceiptHandle!);
        }
      } catch {
        // Captured again by the next run (or by the reconciler's listing while inside its window).
        summary.left++;
      }
    }
    if (done.length) await deps.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: deps.queueUrl, Entries: done.map((h, i) => ({ Id: String(i), ReceiptHandle: h })) }));
  }
  return summary;
}
