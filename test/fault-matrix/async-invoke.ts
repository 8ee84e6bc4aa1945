/**
 * Lambda's asynchronous invocation, as the fault matrix needs it: EventBridge Scheduler (producers)
 * and EventBridge (the status-change capture) invoke their functions asynchronously, so a function
 * error is retried by LAMBDA, `MaximumRetryAttempts` times, and then the event goes to the
 * function's on-failure destination as an invocation record (AWS Lambda developer guide, "Error
 * handling and automatic retries in Lambda" / "Invoking a Lambda function asynchronously",
 * "Capturing records of Lambda asynchronous invocations": the record holds `requestContext`
 * (`condition: RetriesExhausted`, `approximateInvokeCount`), `requestPayload`, `responseContext` and
 * `responsePayload`). No local package serves this, so the model is here, driven by the synthesized
 * `AWS::Lambda::EventInvokeConfig` of the function (retries and destination come from the template,
 * not from the test). Lambda's waits between attempts (1 and 2 minutes) are skipped.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';

/** The async settings of one function, read from the template. */
export interface AsyncInvokeConfig {
  /** The function's ARN (the record's `requestContext.functionArn`). */
  readonly functionArn: string;
  /** Lambda's retries after the first attempt (`MaximumRetryAttempts`; Lambda's default is 2). */
  readonly retries: number;
  /** SQS queue URL of the on-failure destination, if any. */
  readonly onFailureQueueUrl: string | null;
}

/** What happened to one asynchronous event. */
export interface AsyncInvokeResult<R> {
  readonly attempts: number;
  readonly succeeded: boolean;
  readonly result?: R;
  /** Error name of each failed attempt. */
  readonly errors: string[];
  /** The on-failure record sent to the destination (its body), when every attempt failed. */
  readonly record: Record<string, unknown> | null;
}

/**
 * Reads a function's EventInvokeConfig from a synthesized template. `queueUrlOfArn` maps the
 * destination's queue ARN to its (local) URL.
 */
export function asyncConfigOf(
  template: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> },
  functionId: string,
  functionArn: string,
  queueUrlOfId: (queueLogicalId: string) => string,
): AsyncInvokeConfig {
  const cfg = Object.values(template.Resources).find(
    (r) => r.Type === 'AWS::Lambda::EventInvokeConfig' && JSON.stringify(r.Properties?.FunctionName ?? '').includes(`"${functionId}"`),
  );
  const props = (cfg?.Properties ?? {}) as { MaximumRetryAttempts?: number; DestinationConfig?: { OnFailure?: { Destination?: unknown } } };
  const dest = props.DestinationConfig?.OnFailure?.Destination as { 'Fn::GetAtt'?: [string, string] } | undefined;
  const queueId = dest?.['Fn::GetAtt']?.[0];
  const queue = queueId && template.Resources[queueId]?.Type === 'AWS::SQS::Queue' ? queueUrlOfId(queueId) : null;
  // Without an EventInvokeConfig Lambda's defaults apply: two retries, no destination.
  return { functionArn, retries: props.MaximumRetryAttempts ?? 2, onFailureQueueUrl: queue };
}

/** Invokes `handler` with `event` as Lambda does for an asynchronous event. */
export async function invokeAsync<R>(handler: (event: unknown, requestId: string) => Promise<R>, event: unknown, config: AsyncInvokeConfig, sqs: SQSClient): Promise<AsyncInvokeResult<R>> {
  const requestId = randomUUID();
  const errors: string[] = [];
  let last: unknown;
  for (let attempt = 1; attempt <= 1 + config.retries; attempt++) {
    try {
      const result = await handler(event, requestId);
      return { attempts: attempt, succeeded: true, result, errors, record: null };
    } catch (e) {
      last = e;
      errors.push(e instanceof Error ? e.name : 'Error');
    }
  }
  const err = last instanceof Error ? last : new Error(String(last));
  const record = {
    version: '1.0',
    timestamp: new Date().toISOString(),
    requestContext: { requestId, functionArn: `${config.functionArn}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: 1 + config.retries },
    requestPayload: event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorType: err.name, errorMessage: err.message, trace: [] },
  };
  if (config.onFailureQueueUrl) await sqs.send(new SendMessageCommand({ QueueUrl: config.onFailureQueueUrl, MessageBody: JSON.stringify(record) }));
  return { attempts: 1 + config.retries, succeeded: false, errors, record: config.onFailureQueueUrl ? record : null };
}
