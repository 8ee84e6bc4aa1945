/**
 * A deployed stage, offline and live: the REAL stack of a stage is synthesized and its resources
 * stand in locally, so that a client that knows only the stage's stack (its outputs, through
 * CloudFormation) and AWS's APIs can drive it through the standard `AWS_ENDPOINT_URL_<SERVICE>`
 * redirection, as `scheduled-jobs prove --stage local` does:
 * - the template's queues on fauxqs, its tables on dynalite, the caller on the STS stand-in, its
 *   outputs and resources on the CloudFormation stand-in (stack `ScheduledJobs-<stage>`), its saved
 *   queries on the Athena stand-in (DuckDB over what the Firehose stand-in delivers), its alarms on
 *   the CloudWatch stand-in, whose SetAlarmState runs the alarm's actions on the SNS stand-in (which
 *   delivers to SQS subscriptions);
 * - Lambda's Invoke for reprocess and the producers (the real handlers with the environment their
 *   constructs synthesize); a producer's tick batches are started by the real starter as the tick
 *   queue's event source mapping would (local/sqs-esm.ts);
 * - every execution started on the Step Functions stand-in is run by the SYNTHESIZED definition in
 *   aws-local-stepfunctions with the real step handlers (local/offline-day/executions.ts), its
 *   history recorded; each status change is delivered to the status-change capture when the
 *   stack's EventBridge rule matches it (as EventBridge would, but every time: AWS delivers these
 *   events on a best-effort basis).
 * Time is compressed: retry waits are skipped and the execution and task timeouts capped (below).
 *
 * `breaks` inject the faults that the prover must catch (its tests): status-change events dropped
 * (the capture never sees a stop or a timeout), a reprocess that ignores where to resume, step
 * functions deployed without their hold check. Never bundled into Lambda code.
 */
import { GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig } from '../lib/config/types';
import { LAMBDA_SANDBOX_TIMEOUT } from '../lambdas/shared/errors';
import { resolveConfig } from '../lib/config/validate';
import { resolveIntrinsics, RefResolver } from './asl';
import { startAthenaStandin, AthenaStandin } from './athena-standin';
import { startCloudFormationStandin, CloudFormationStandin } from './cloudformation-standin';
import { startCloudWatchStandin, CloudWatchStandin } from './cloudwatch-standin';
import { LocalDynamo, startLocalDynamo } from './dynamodb-local';
import { FirehoseStandin, startFirehoseStandin } from './firehose-standin';
import { installHandlerEnv } from './handler-env';
import { KmsStandin, startKmsStandin } from './kms-standin';
import { LambdaStandin, StandinFunction, startLambdaStandin } from './lambda-standin';
import { eventRules, eventSources, functionEnvironment, LOCAL_ACCOUNT, placeholderRef, REPROCESS_ENTRY, stateMachineDefinition, synthesizeApp, SynthesizedApp } from './offline-day/app-model';
import { matchesEventPattern } from './offline-day/eventbridge';
import { createExecutionRunner, LocalHandler } from './offline-day/executions';
import { SfnStandin, startSfnStandin, statusChangeEvent } from './sfn-standin';
import { driveEventSource } from './sqs-esm';
import { SqsEmulator, startSqsEmulator } from './sqs-emulator';
import { SnsStandin, startSnsStandin } from './sns-standin';
import { startStsStandin, StsStandin } from './sts-standin';

/** Faults a test injects to show the prover catches them. */
export interface LiveStageBreaks {
  /** Status-change events never reach the capture (EventBridge delivery lost). */
  dropStatusEvents?: boolean;
  /** Reprocess replays every message from the first step, whatever `from` says. */
  ignoreResume?: boolean;
  /** Step functions run without their dependency's hold check (deployed without HOLD_DEPENDENCY). */
  ignoreHolds?: boolean;
  /** KMS accepts connections and never answers (a handler that MACs a record waits until its invoke times out). */
  unansweredKms?: boolean;
}

export interface LiveStageOptions {
  readonly config: AppConfig;
  readonly stage: string;
  readonly projectRoot: string;
  /** @default us-east-1 */
  readonly region?: string;
  /**
   * Cap on every execution's timeout, seconds (time compression). A proof execution of three steps
   * takes 1-3 s here, but on a CPU-starved CI machine (load 17 on 2 cores) one took over 6 s and
   * TIMED_OUT where it should have succeeded: the cap leaves such a machine room. @default 15
   */
  readonly executionTimeoutSeconds?: number;
  /** Cap on every Task's timeout, seconds: above the execution cap, so a hanging step meets the execution's timeout first. @default 25 */
  readonly stepTimeoutSeconds?: number;
  /**
   * Cap on an invoked function's timeout (reprocess, a producer with its tick batches), seconds: as
   * Lambda ends an invocation at its timeout, a handler waiting on something that never answers
   * makes the Invoke fail (Sandbox.Timedout) instead of leaving the prover waiting. @default 30
   */
  readonly invokeTimeoutSeconds?: number;
  readonly breaks?: LiveStageBreaks;
}

export interface LiveStage {
  readonly stackName: string;
  readonly region: string;
  readonly model: SynthesizedApp;
  readonly sqs: SqsEmulator;
  readonly dynamo: LocalDynamo;
  readonly sfn: SfnStandin;
  readonly lambda: LambdaStandin;
  readonly athena: AthenaStandin;
  readonly cfn: CloudFormationStandin;
  readonly cloudWatch: CloudWatchStandin;
  readonly sts: StsStandin;
  readonly sns: SnsStandin;
  readonly firehose: FirehoseStandin;
  readonly kms: KmsStandin;
  /** Status-change events delivered to the capture, and those dropped by the break. */
  readonly statusEvents: { delivered: number; dropped: number; captureErrors: string[] };
  /** The AWS_ENDPOINT_URL_* variables (and region, credentials) a client needs to reach the stage. */
  readonly env: Readonly<Record<string, string>>;
  /** Resolves when no execution or capture delivery is running. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** The operator's access key on the STS stand-in. */
export const LIVE_OPERATOR_KEY = 'AKIAPROVER';

/** Starts the stage. Sets process.env for the handlers (endpoints, fake credentials): one stage per process. */
export async function startLiveStage(o: LiveStageOptions): Promise<LiveStage> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const region = o.region ?? 'us-east-1';
  const breaks = o.breaks ?? {};
  const config = resolveConfig(o.config, { stage: o.stage });
  const model = synthesizeApp(config, o.projectRoot, region);
  const resources = model.template.Resources;
  const stackName = `ScheduledJobs-${config.stage}`;

  const [sqs, dynamo] = await Promise.all([startSqsEmulator({ region }), startLocalDynamo(region)]);
  const queueUrls = new Map<string, string>();
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::SQS::Queue') queueUrls.set(id, await sqs.createQueue(id));
    if (r.Type === 'AWS::DynamoDB::Table') await dynamo.createTable(id);
  }
  const base = placeholderRef(region);
  const ref: RefResolver = (id, type, attribute) => {
    if (type === 'AWS::SQS::Queue' && attribute === undefined) return queueUrls.get(id)!;
    if (type === 'AWS::SQS::Queue' && attribute === 'Arn') return `arn:aws:sqs:${region}:${LOCAL_ACCOUNT}:${id}`;
    return base(id, type, attribute);
  };
  const env = { region, account: LOCAL_ACCOUNT };

  // Where the param log lands (the Athena stand-in reads the same folder), delivered at once.
  const logRoot = mkdtempSync(join(tmpdir(), 'live-stage-log-'));
  const streams: Record<string, string> = {};
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type !== 'AWS::KinesisFirehose::DeliveryStream') continue;
    const s3 = (r.Properties?.ExtendedS3DestinationConfiguration ?? {}) as { Prefix?: string };
    streams[id] = String(s3.Prefix ?? id).split('/')[0];
  }
  const firehose = await startFirehoseStandin({ outDir: logRoot, streams, timeZone: config.timeZone, bufferSeconds: 0, bufferBytes: 1 });
  // KMS HMAC keys: the record writers' MACs and the lock keys (docs/security.md, "Record MACs"). Without
  // it the handlers' KMS client goes to the real KMS endpoint, and a step that seals or MACs a record
  // (the spooled failure of a transient fault) waits on the network instead of finishing.
  const kms = await startKmsStandin();
  const silentKms = breaks.unansweredKms ? await startSilentServer() : undefined;

  // ---- handlers, each with exactly its function's environment (set before load and before each call)
  const baseEnv: Record<string, string> = {};
  const envOf = new Map<string, Record<string, string>>();
  const envFor = (id: string): Record<string, string> => {
    let e = envOf.get(id);
    if (!e) {
      e = functionEnvironment(model, id, ref);
      delete e.NODE_OPTIONS;
      if (breaks.ignoreHolds) delete e.HOLD_DEPENDENCY;
      envOf.set(id, e);
    }
    return e;
  };
  // Each invocation reads its own function's environment, even after an await while other
  // functions run (local/handler-env.ts): a shared, swapped process.env mixed them.
  const handlerEnv = installHandlerEnv();
  const envOfCall = (id: string): Record<string, string> => ({ ...baseEnv, ...envFor(id) });
  const handlers = new Map<string, LocalHandler>();
  const loadHandler = (id: string): LocalHandler => {
    let h = handlers.get(id);
    if (!h) {
      const entry = model.entries.get(id);
      if (!entry) throw new Error(`No handler entry known for function ${id}`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = handlerEnv.run(envOfCall(id), () => require(join(o.projectRoot, entry)) as { handler?: LocalHandler });
      if (typeof mod.handler !== 'function') throw new Error(`${entry} does not export a handler`);
      h = mod.handler;
      handlers.set(id, h);
    }
    return h;
  };
  const call = (id: string, event: unknown, context: unknown): Promise<unknown> => {
    const h = loadHandler(id);
    return handlerEnv.run(envOfCall(id), () => h(event, context));
  };
  const lambdaContext = (id: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    return { functionName: id, awsRequestId: `live-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
  };

  // ---- executions
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>): void => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const statusEvents = { delivered: 0, dropped: 0, captureErrors: [] as string[] };
  const rules = eventRules(model, ref);
  const runners = new Map<string, ReturnType<typeof createExecutionRunner>>();
  const runSqs = new SQSClient({ region, endpoint: sqs.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  let sfnRef: SfnStandin | undefined;
  const sfn = await startSfnStandin({
    onStart: (e) =>
      track(
        (async () => {
          const runner = runners.get(e.stateMachineArn);
          if (!runner) throw new Error(`no state machine ${e.stateMachineArn}`);
          const out = await runner({ executionArn: e.executionArn, name: e.name, stateMachineArn: e.stateMachineArn, input: JSON.parse(e.input), startDate: e.startDate, hooks: sfnRef!.localRun(e.executionArn) });
          sfnRef!.complete(e.executionArn, out.status, { error: out.error, cause: out.cause });
        })().catch((err) => statusEvents.captureErrors.push(`execution ${e.name}: ${String(err)}`)),
      ),
    onStatusChange: (e) => {
      const event = statusChangeEvent(e);
      for (const rule of rules) {
        if (!matchesEventPattern(rule.pattern, event)) continue;
        if (breaks.dropStatusEvents) {
          statusEvents.dropped++;
          continue;
        }
        statusEvents.delivered++;
        // EventBridge invokes the target asynchronously, after the change.
        track(
          new Promise((r) => setImmediate(r))
            .then(() => call(rule.targetFunction, event, lambdaContext(rule.targetFunction, 60_000)))
            .catch((err) => statusEvents.captureErrors.push(`capture: ${String(err)}`)),
        );
      }
    },
  });
  sfnRef = sfn;
  for (const job of config.jobs) {
    runners.set(
      ref(model.stateMachines.get(job.name)!, 'AWS::StepFunctions::StateMachine'),
      createExecutionRunner({
        definition: stateMachineDefinition(model, job, ref),
        sqs: runSqs,
        stepTimeoutSeconds: o.stepTimeoutSeconds ?? 25,
        executionTimeoutSeconds: o.executionTimeoutSeconds ?? 15,
        handlerFor: (functionName) => {
          const id = functionName.split(':').pop()!;
          // The function's own timeout is compressed with the state's: a hanging step gives up (and its timers end) seconds later, not minutes.
          const timeoutMs = Math.min(Number(resources[id]?.Properties?.Timeout ?? 30), o.stepTimeoutSeconds ?? 25) * 1000;
          return (event, context) => call(id, event, { ...lambdaContext(id, timeoutMs), ...(context as object) });
        },
      }),
    );
  }

  // ---- Lambda's Invoke: reprocess and the producers; a producer's batches are started before it answers.
  const starters = eventSources(model);
  const drainTicks = async (): Promise<void> => {
    for (const es of starters) {
      await driveEventSource({
        sqs: runSqs,
        queueUrl: queueUrls.get(es.queueId)!,
        maxConcurrency: 1,
        timeoutMs: es.timeoutSeconds * 1000,
        region,
        functionName: es.functionId,
        maxInvocations: 1_000,
        container: () => async (event, context) => (await call(es.functionId, event, context)) as never,
      });
    }
  };
  const invocable: Record<string, StandinFunction> = {};
  for (const [id, entry] of model.entries) {
    const isProducer = config.jobs.some((j) => j.producer.entry === entry);
    if (entry !== REPROCESS_ENTRY && !isProducer) continue;
    const timeoutMs = Math.min(Number(resources[id]?.Properties?.Timeout ?? 60), o.invokeTimeoutSeconds ?? 30) * 1000;
    invocable[id] = {
      environment: {},
      timeoutMs,
      retryAttempts: 2,
      load: async () => async (event, context) => {
        const replay = event && typeof event === 'object' && ((event as { source?: string }).source ?? 'spool') === 'spool';
        if (entry === REPROCESS_ENTRY && breaks.ignoreResume && replay) event = { ...(event as object), from: 'start' };
        const run = (async () => {
          const out = await call(id, event, context);
          if (isProducer) await drainTicks();
          return out;
        })();
        // Lambda ends an invocation at the function's timeout and answers the error (Lambda developer
        // guide, "Configure Lambda function timeout"); the stand-in would wait for the handler forever.
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`), { name: LAMBDA_SANDBOX_TIMEOUT })), timeoutMs);
        });
        try {
          return await Promise.race([run, timedOut]);
        } finally {
          clearTimeout(timer);
        }
      },
    };
  }
  const lambda = await startLambdaStandin(region, invocable, LOCAL_ACCOUNT);

  // ---- the stack as CloudFormation describes it
  const tpl = model.template as unknown as { Resources: Record<string, { Type: string }>; Outputs?: Record<string, { Value: unknown; Description?: string }> };
  const physical = (id: string, type: string): string => String(type === 'AWS::SQS::Queue' ? (queueUrls.get(id) ?? id) : ref(id, type));
  const outputs = Object.entries(tpl.Outputs ?? {}).map(([key, out]) => ({ OutputKey: key, OutputValue: String(resolveIntrinsics(out.Value as never, resources as never, ref, env)), Description: out.Description }));
  const stackResources = Object.entries(tpl.Resources).map(([id, r]) => ({ LogicalResourceId: id, PhysicalResourceId: physical(id, r.Type), ResourceType: r.Type }));
  const outputValue = (k: string): string => outputs.find((x) => x.OutputKey === k)?.OutputValue ?? '';
  // The alarm topic(s) of the stack; CloudWatch publishes the alarm's state change to each action.
  const topics = Object.entries(tpl.Resources).filter(([, r]) => r.Type === 'AWS::SNS::Topic').map(([id]) => ref(id, 'AWS::SNS::Topic'));
  const sns = await startSnsStandin(Object.fromEntries(topics.map((t) => [t, []])), {
    deliverToQueue: async (queueArn, body) => {
      const url = await runSqs.send(new GetQueueUrlCommand({ QueueName: queueArn.split(':').pop()! }));
      await runSqs.send(new SendMessageCommand({ QueueUrl: url.QueueUrl!, MessageBody: body }));
    },
  });
  const alarmActions = (id: string, key: 'AlarmActions' | 'OKActions'): string[] =>
    ((resolveIntrinsics((resources[id]?.Properties?.[key] ?? []) as never, resources as never, ref, env) as unknown[]) ?? []).map(String);
  const [athena, cfn, cloudWatch, sts] = await Promise.all([
    startAthenaStandin({ region, workGroup: outputValue('OperatorAthenaWorkGroup'), database: outputValue('OperatorAthenaDatabase'), logRoot }),
    startCloudFormationStandin([{ StackName: stackName, region, outputs, resources: stackResources }]),
    startCloudWatchStandin(
      region,
      stackResources
        .filter((r) => r.ResourceType === 'AWS::CloudWatch::Alarm')
        .map((r) => ({ AlarmName: r.PhysicalResourceId, StateValue: 'OK' as const, AlarmActions: alarmActions(r.LogicalResourceId, 'AlarmActions'), OKActions: alarmActions(r.LogicalResourceId, 'OKActions') })),
      {
        // The notification CloudWatch sends to SNS (AWS CloudWatch user guide, "Alarm events and Amazon SNS").
        onAction: async (topicArn, alarm, previous) =>
          void (await sns.publish(topicArn, `${alarm.StateValue}: "${alarm.AlarmName}" in ${region}`, JSON.stringify({ AlarmName: alarm.AlarmName, NewStateValue: alarm.StateValue, OldStateValue: previous, NewStateReason: alarm.StateReason }))),
      },
    ),
    startStsStandin({ [LIVE_OPERATOR_KEY]: { Arn: `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/SandboxAdmin/prover`, Account: LOCAL_ACCOUNT, UserId: 'AROAPROVER:prover' } }),
  ]);

  const clientEnv: Record<string, string> = {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: LIVE_OPERATOR_KEY,
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_SFN: sfn.endpoint,
    AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
    AWS_ENDPOINT_URL_ATHENA: athena.endpoint,
    AWS_ENDPOINT_URL_CLOUDFORMATION: cfn.endpoint,
    AWS_ENDPOINT_URL_CLOUDWATCH: cloudWatch.endpoint,
    AWS_ENDPOINT_URL_STS: sts.endpoint,
    AWS_ENDPOINT_URL_SNS: sns.endpoint,
    AWS_ENDPOINT_URL_FIREHOSE: firehose.endpoint,
    AWS_ENDPOINT_URL_KMS: silentKms?.endpoint ?? kms.endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
  };
  Object.assign(baseEnv, { ...process.env, ...clientEnv });
  delete baseEnv.AWS_PROFILE;
  Object.assign(process.env, clientEnv);
  delete process.env.AWS_PROFILE;

  const idle = async (): Promise<void> => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  };
  return {
    stackName,
    region,
    model,
    sqs,
    dynamo,
    sfn,
    lambda,
    athena,
    cfn,
    cloudWatch,
    sts,
    sns,
    firehose,
    kms,
    statusEvents,
    env: clientEnv,
    idle,
    async stop() {
      await Promise.race([idle(), new Promise((r) => setTimeout(r, 5_000).unref())]);
      runSqs.destroy();
      await Promise.all([sqs.stop(), dynamo.stop(), sfn.stop(), lambda.stop(), athena.stop(), cfn.stop(), cloudWatch.stop(), sts.stop(), sns.stop(), firehose.close(), kms.stop(), silentKms?.stop()]);
      rmSync(logRoot, { recursive: true, force: true });
      handlerEnv.restore();
    },
  };
}

/** A TCP server that accepts and never answers (the `unansweredKms` break); stop() drops its connections. */
async function startSilentServer(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
