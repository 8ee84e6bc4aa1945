import type { ResolvedAppConfig } from '../../lib/config/types';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { RefResolver, stateMachineDefinition, SynthesizedApp } from './app-model';
import { Retrier, retriersByState } from './aws-faults';
import { createExecutionRunner, LocalHandler } from './executions';

/**
 * One execution runner per job's synthesized state machine (executions.ts), keyed by the state
 * machine's ARN, with the time compression of the offline run, and each machine's retriers by
 * state (what AWS would have waited between retries).
 */
export function createJobRunners(o: {
  readonly config: ResolvedAppConfig;
  readonly model: SynthesizedApp;
  readonly ref: RefResolver;
  /** State machine ARN by job. */
  readonly smArns: ReadonlyMap<string, string>;
  readonly sqs: SQSClient;
  readonly stepTimeoutSeconds: number;
  readonly executionTimeoutSeconds: number;
  /** The handler of a Lambda function by its logical id. */
  readonly handlerFor: (logicalId: string) => LocalHandler;
}): { runners: Map<string, ReturnType<typeof createExecutionRunner>>; retriersOf: Map<string, (state: string) => Retrier[]> } {
  const runners = new Map<string, ReturnType<typeof createExecutionRunner>>();
  const retriersOf = new Map<string, (state: string) => Retrier[]>();
  for (const job of o.config.jobs) {
    const definition = stateMachineDefinition(o.model, job, o.ref);
    const arn = o.smArns.get(job.name)!;
    runners.set(
      arn,
      createExecutionRunner({
        definition,
        sqs: o.sqs,
        stepTimeoutSeconds: o.stepTimeoutSeconds,
        executionTimeoutSeconds: o.executionTimeoutSeconds,
        handlerFor: (functionName) => o.handlerFor(functionName.split(':').pop()!),
      }),
    );
    const retriers = retriersByState(definition);
    retriersOf.set(arn, (state) => retriers.get(state) ?? []);
  }
  return { runners, retriersOf };
}
