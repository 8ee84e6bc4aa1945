import { performance } from 'node:perf_hooks';
import type { SynthesizedApp } from './app-model';

/**
 * The Lambda context the offline run gives every handler it invokes, as the Lambda runtime builds
 * it: the function's name, a request id, and `getRemainingTimeInMillis` counting down from the
 * function's configured `Timeout` (the template's), from the moment the invocation starts.
 *
 * Without it, a step ran with no deadline of its own and Powertools Idempotency, which sets an
 * in-progress record's expiry from the remaining time, warned on every step call ("Could not
 * determine remaining time left"): 3,400 lines in a default run, and a record that never expired.
 *
 * The countdown is in real (monotonic) time, not the simulated clock: the engine's TimeoutSeconds
 * and the steps' own deadline timers run in real time, and the simulated clock jumps between ticks
 * while a step Lambda of an ended execution may still run (docs/offline-day.md, "Simulated time").
 */

/** Lambda's default timeout when a function sets none (AWS::Lambda::Function `Timeout`: 3 s). */
export const LAMBDA_DEFAULT_TIMEOUT_SECONDS = 3;

/** The parts of the Lambda context the handlers read. */
export interface OfflineLambdaContext {
  readonly functionName: string;
  readonly awsRequestId: string;
  readonly memoryLimitInMB: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  readonly callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
}

/** The function's configured timeout in seconds, from the template (Lambda's default when unset). */
export function functionTimeoutSeconds(model: Pick<SynthesizedApp, 'template'>, logicalId: string): number {
  const res = model.template.Resources[logicalId];
  if (!res || res.Type !== 'AWS::Lambda::Function') throw new Error(`${logicalId} is not a Lambda function of the template`);
  const timeout = res.Properties?.Timeout;
  return typeof timeout === 'number' && timeout > 0 ? timeout : LAMBDA_DEFAULT_TIMEOUT_SECONDS;
}

let requests = 0;

/**
 * Builds the context of one invocation of `logicalId`, its clock started now. `functionArn` is the
 * ARN the run gives the function; `memoryMiB` its template `MemorySize` (Lambda's default 128).
 */
export function lambdaContext(args: { readonly logicalId: string; readonly functionArn: string; readonly timeoutSeconds: number; readonly memoryMiB?: number; readonly requestId?: string }): OfflineLambdaContext {
  const deadline = performance.now() + args.timeoutSeconds * 1000;
  requests += 1;
  return {
    functionName: args.logicalId,
    awsRequestId: args.requestId ?? `local-${args.logicalId}-${requests}`,
    memoryLimitInMB: String(args.memoryMiB ?? 128),
    functionVersion: '$LATEST',
    invokedFunctionArn: args.functionArn,
    logGroupName: `/aws/lambda/${args.logicalId}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, Math.floor(deadline - performance.now())),
  };
}

/** The template's `MemorySize` of a function, or undefined. */
export function functionMemoryMiB(model: Pick<SynthesizedApp, 'template'>, logicalId: string): number | undefined {
  const m = model.template.Resources[logicalId]?.Properties?.MemorySize;
  return typeof m === 'number' ? m : undefined;
}
