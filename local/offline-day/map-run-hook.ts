import { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { StandinExecution } from '../sfn-standin';
import type { RefResolver, SynthesizedApp } from './app-model';
import type { AwsFaults } from './aws-faults';
import type { LocalHandler } from './executions';
import { MapItemEnd, MapRunCounts, MapRuns } from './map-run';
import { LOCAL_EXECUTION_TIMEOUT_SECONDS, LOCAL_STEP_TIMEOUT_SECONDS } from './run-options';

/** The run's side of the Map Run stand-in (map-run.ts): what run.ts calls for a high-volume parent. */
export interface MapRunHook {
  readonly counts: MapRunCounts;
  /** Every child run's end (status, error, cause), for the canary's state machine log sink. */
  readonly childEnds: MapRuns['childEnds'];
  isParent(stateMachineArn: string): boolean;
  /** Runs a parent the Step Functions stand-in accepted, then ends it there (its status change follows). */
  runParent(e: StandinExecution, sfn: { complete(arn: string, status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED', d?: { error?: string; cause?: string }): void; dropHistory(arn: string): void }): Promise<void>;
}

/** Builds the Map Run stand-in of the app's high-volume parents, on the run's SQS and S3 stand-ins. */
export function createMapRuns(o: {
  readonly model: SynthesizedApp;
  readonly ref: RefResolver;
  readonly sqs: SQSClient;
  /** The S3 API of the emulator (the post-map Lambda's AWS_ENDPOINT_URL_S3). */
  readonly s3Endpoint: string;
  readonly handlerFor: (logicalId: string) => LocalHandler;
  readonly awsFaults: AwsFaults;
  readonly postMapStep?: boolean;
  readonly onItem: (end: MapItemEnd) => void;
}): MapRunHook {
  const s3 = new S3Client({ region: o.model.region, endpoint: o.s3Endpoint, forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const runs = new MapRuns({
    model: o.model,
    ref: o.ref,
    sqs: o.sqs,
    s3,
    handlerFor: o.handlerFor,
    stepTimeoutSeconds: LOCAL_STEP_TIMEOUT_SECONDS,
    executionTimeoutSeconds: LOCAL_EXECUTION_TIMEOUT_SECONDS,
    faults: { childTwice: (k) => o.awsFaults.expressChildTwice(k), childTimedOut: (k) => o.awsFaults.expressChildTimesOut(k) },
    onItem: o.onItem,
    postMapStep: o.postMapStep,
  });
  return {
    counts: runs.counts,
    childEnds: runs.childEnds,
    isParent: (arn) => runs.isParent(arn),
    async runParent(e, sfn) {
      const out = await runs.run(e);
      sfn.complete(e.executionArn, out.status, { error: out.error, cause: out.cause });
      if (out.status === 'SUCCEEDED') sfn.dropHistory(e.executionArn);
    },
  };
}
