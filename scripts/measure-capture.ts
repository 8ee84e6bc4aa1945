/**
 * Measures what one capture costs in Step Functions API calls (the quota that bounds the capture:
 * DescribeExecution refills 10/s, GetExecutionHistory 20/s in most regions, AWS Step Functions
 * quotas), for the synthesized example-fanout at its largest (50 parts, the map's maxItems),
 * stopped at each of its steps. The execution runs in aws-local-stepfunctions through the stand-in
 * (which records its history); the capture logic reads it with the real SFN client.
 *
 *   npm run measure:capture
 *
 * Prints, per stop point: history length, events the capture read, GetExecutionHistory pages
 * (100 events per page, the handler's default), bytes of history read and of the spool message.
 */
import '../local/polyfills';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { appConfig } from '../bin/config';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { captureExecutionEnd, parseJobsEnv } from '../lambdas/execution-capture/logic';
import { aggregate, audit, listParts, processPart } from '../lambdas/jobs/example-fanout/logic';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { aslFromTemplate, CfnTemplate } from '../local/asl';
import { startLocalDynamo } from '../local/dynamodb-local';
import { createLocalRunner, LocalLambda } from '../local/run-state-machine';
import { startSfnStandin } from '../local/sfn-standin';
import { startSqsEmulator } from '../local/sqs-emulator';
import { startKmsStandin } from '../local/kms-standin';
import { LockKeys } from '../lambdas/shared/locks';

const PARTS = 50;
const PAGE = 100;

async function main(): Promise<void> {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const config = resolveConfig(appConfig, { allJobs: true });
  const stack = new ScheduledJobsStack(app, 'Measure', { config, projectRoot: resolve(__dirname, '..') });
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as CfnTemplate;
  const machine = aslFromTemplate(template, { job: 'example-fanout' });
  const jobs = parseJobsEnv(
    JSON.stringify(Object.fromEntries(config.jobs.map((j) => [j.name, j.steps.map((s) => s.name)]))),
    JSON.stringify(Object.fromEntries(config.jobs.filter((j) => j.exclusiveBy).map((j) => [j.name, j.exclusiveBy]))),
  );

  const [sqsEmu, dynamo, standin, kms] = await Promise.all([startSqsEmulator(), startLocalDynamo('us-east-1'), startSfnStandin(), startKmsStandin()]);
  // The lock-key HMAC key (any id is a key in the KMS stand-in).
  const LOCK_KEY = 'arn:aws:kms:us-east-1:000000000000:key/lock-mac';
  await dynamo.createTable('coord');
  const spoolUrl = await sqsEmu.createQueue('spool');
  const creds = { region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' } };
  const sfn = new SFNClient({ ...creds, endpoint: standin.endpoint });
  const sqs = new SQSClient({ ...creds, endpoint: sqsEmu.endpoint });
  const ddb = new DynamoDBClient({ ...creds, endpoint: dynamo.endpoint });
  let historyBytes = 0;
  sfn.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      if (context.commandName === 'GetExecutionHistoryCommand') historyBytes += JSON.stringify((out.output as { events?: unknown }).events ?? []).length;
      return out;
    },
    { step: 'initialize', name: 'countHistoryBytes' },
  );
  process.env.COORDINATION_TABLE = 'coord';
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  Object.assign(process.env, { AWS_ENDPOINT_URL_KMS: kms.endpoint, LOCK_MAC_KEY_ID: LOCK_KEY });
  Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'l', AWS_SECRET_ACCESS_KEY: 'l', POWERTOOLS_LOG_LEVEL: 'SILENT' });
  const lockHandler = (await import('../lambdas/lock/handler')).handler;

  const stops = ['ListParts', 'ProcessPart (last item)', 'Aggregate', 'RecordSuccess'] as const;
  const rows: string[][] = [['stopped in', 'history events', 'events read', 'history pages', 'SFN calls', 'history KiB read', 'spool msg KiB', 'outcome / failedState']];
  let n = 0;
  for (const stopIn of stops) {
    n++;
    const input: TaskEnvelope = { v: 1, taskId: `example-fanout-20261125T0300Z-acct-${n}`, job: 'example-fanout', key: `acct-${n}`, params: { account: `acct-${n}`, parts: PARTS }, attempt: 1, scheduledTime: '2026-11-25T03:00:00.000Z' };
    const e = standin.seed({ stateMachineArn: machine.arn, name: `${input.taskId}-a1`, input: JSON.stringify(input) });
    const stop = async () => void (await sfn.send(new StopExecutionCommand({ executionArn: e.executionArn })));
    let processed = 0;
    const lock: LocalLambda = (p) => lockHandler(p as never);
    const lambdas: Record<string, LocalLambda> = {
      AcquireLock: lock,
      ReleaseLock: lock,
      ReleaseLockAfterFailure: lock,
      ListParts: async (p) => (stopIn === 'ListParts' && (await stop()), listParts((p as { task: TaskEnvelope }).task.params)),
      ProcessPart: async (p) => {
        const { previous, index } = p as { previous: never; index: number };
        if (stopIn === 'ProcessPart (last item)' && ++processed === PARTS) await stop();
        return processPart(previous, index);
      },
      Aggregate: async (p) => (stopIn === 'Aggregate' && (await stop()), aggregate((p as { task: TaskEnvelope }).task.params, (p as { previous: never }).previous)),
      Audit: (p) => audit((p as { previous: never }).previous),
      RecordSuccess: async () => (stopIn === 'RecordSuccess' && (await stop()), {}),
      RecordFailure: () => ({}),
      RecordSpoolUnavailable: () => ({}),
    };
    const runner = createLocalRunner({ definition: machine.definition });
    await standin.runLocally(e.executionArn, (hooks) =>
      runner({ input, lambdas, tasks: { SpoolFailure: () => ({ MessageId: 'm' }) }, stateMachineArn: machine.arn, executionName: e.name, executionArn: e.executionArn, ...hooks }),
    );
    historyBytes = 0;
    const before = { ...standin.counters.calls };
    const r = await captureExecutionEnd(e.executionArn, { sfn, sqs, ddb, sink: { put: async () => undefined }, spoolQueueUrl: spoolUrl, coordinationTable: 'coord', timeZone: 'Asia/Tokyo', jobs, lockKeys: new LockKeys(kms.keyOf(LOCK_KEY)), historyPageSize: PAGE });
    const calls = Object.entries(standin.counters.calls).reduce((t, [k, v]) => t + v - (before[k] ?? 0), 0);
    const q = await sqsEmu.inspectQueue('spool');
    const msg = q.all.find((m) => m.body.includes(e.executionArn));
    rows.push([
      stopIn,
      String(e.history.length),
      String(r.historyEvents),
      String(r.historyPages),
      String(calls),
      (historyBytes / 1024).toFixed(1),
      msg ? (Buffer.byteLength(msg.body) / 1024).toFixed(1) : '-',
      `${r.outcome} / ${r.failedState}`,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
  console.log(`\nexample-fanout with ${PARTS} parts; GetExecutionHistory page size ${PAGE}. SFN calls = 1 DescribeExecution + the history pages.`);
  await Promise.all([sqsEmu.stop(), dynamo.stop(), standin.stop(), kms.stop()]);
  [sfn, sqs, ddb].forEach((c) => c.destroy());
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
