/**
 * The deployed app, offline, for the operator CLI's tests: the REAL stack is synthesized (dev stage
 * of the test fixture config) and its outputs and resources are served by the CloudFormation stand-in with
 * every Ref resolved to a local resource: the spool, quarantine, failed-invocations and tick queues
 * on fauxqs, the coordination table on dynalite, the reprocess function and the example-api producer
 * on the Lambda stand-in (running the real handlers with the environment their constructs
 * synthesize; the producer's asynchronous failures go to the failed-invocations queue as Lambda's
 * on-failure destination would put them), the client records on the Firehose stand-in, executions
 * on the Step Functions stand-in, the saved queries on the Athena stand-in (DuckDB over a param-log
 * fixture), the stack's alarms on the CloudWatch stand-in, the caller on the STS stand-in. The CLI's
 * own SDK clients reach them through AWS_ENDPOINT_URL_<SERVICE>.
 */
import { RefResolver, resolveIntrinsics } from '../../local/asl';
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fixtureConfig } from './fixture-config';
import { resolveConfig } from '../../lib/config/validate';
import { ScheduledJobsStack } from '../../lib/scheduled-jobs-stack';
import { startAthenaStandin, AthenaStandin } from '../../local/athena-standin';
import { startCloudFormationStandin, CloudFormationStandin, StandinStackOutput, StandinStackResource } from '../../local/cloudformation-standin';
import { startCloudWatchStandin, CloudWatchStandin } from '../../local/cloudwatch-standin';
import { LocalDynamo, startLocalDynamo } from '../../local/dynamodb-local';
import { FirehoseStandin, startFirehoseStandin } from '../../local/firehose-standin';
import { startKmsStandin } from '../../local/kms-standin';
import { LambdaStandin, startLambdaStandin, StandinHandler } from '../../local/lambda-standin';
import { SfnStandin, startSfnStandin } from '../../local/sfn-standin';
import { SqsEmulator, startSqsEmulator } from '../../local/sqs-emulator';
import { startStsStandin, StsStandin } from '../../local/sts-standin';
import { SnsStandin, startSnsStandin } from '../../local/sns-standin';

export const REGION = 'us-east-1';
export const ACCOUNT = '111111111111';
export const STACK = 'ScheduledJobs-dev';
/** The operator's access key (environment credentials of the test process) and who STS says it is. */
export const OPERATOR_KEY = 'AKIAOPERATOR';
export const OPERATOR_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/SREOperator/jane`;
export const REPROCESS_FUNCTION = 'ScheduledJobs-dev-ReprocessFunction-local';
export const TABLE = 'ScheduledJobs-dev-CoordinationTable-local';
/** The job whose producer the world serves (the dev stage's). */
export const PRODUCER_JOB = 'example-api';

export interface OperatorWorld {
  readonly sqs: SqsEmulator;
  readonly dynamo: LocalDynamo;
  readonly sfn: SfnStandin;
  readonly lambda: LambdaStandin;
  readonly athena: AthenaStandin;
  readonly cfn: CloudFormationStandin;
  readonly cloudWatch: CloudWatchStandin;
  readonly sts: StsStandin;
  readonly firehose: FirehoseStandin;
  /** The stack's alarm topic with one confirmed email subscription (status reads it). */
  readonly sns: SnsStandin;
  /** Queue names on fauxqs (for inspectQueue) and URLs. */
  readonly queues: { spool: string; quarantine: string; failedInvocations: string; tick: string; urls: { spool: string; quarantine: string; failedInvocations: string; tick: string } };
  /** The example-api producer as deployed: its function name and ARN (what its failed-invocation records name). */
  readonly producer: { readonly functionName: string; readonly functionArn: string };
  /** State machine ARN by job. */
  readonly stateMachines: Map<string, string>;
  /** Alarm names of the stack. */
  readonly alarmNames: string[];
  /** The synthesized template (outputs checked by the tests). */
  readonly template: Template;
  /** Root of the local param-log bucket copy. */
  readonly logRoot: string;
  stop(): Promise<void>;
}

type Physical = (logicalId: string, type: string) => string;

/** Resolves an output value of the template (Ref, Fn::GetAtt, Fn::Join) with local physical ids. */
function resolveValue(v: unknown, resources: Record<string, { Type: string }>, physical: Physical): string {
  if (typeof v === 'string') return v;
  const o = v as Record<string, unknown>;
  if ('Ref' in o) {
    const id = o.Ref as string;
    if (id === 'AWS::Region') return REGION;
    if (id === 'AWS::AccountId') return ACCOUNT;
    if (id === 'AWS::URLSuffix') return 'amazonaws.com';
    if (id === 'AWS::Partition') return 'aws';
    return physical(id, resources[id]?.Type ?? '');
  }
  if ('Fn::GetAtt' in o) {
    const [id, attr] = o['Fn::GetAtt'] as [string, string];
    return attr === 'Arn' ? `arn:aws:local:${REGION}:${ACCOUNT}:${physical(id, resources[id]?.Type ?? '')}` : physical(id, resources[id]?.Type ?? '');
  }
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolveValue(p, resources, physical)).join(sep);
  }
  throw new Error(`cannot resolve output value ${JSON.stringify(v)}`);
}

/** Builds the world. Sets process.env (endpoints, the operator's credentials and region) for the CLI's clients. */
export async function startOperatorWorld(opts: { logRoot?: string } = {}): Promise<OperatorWorld> {
  // Node 20 is this project's runtime; the SDK's notice about Node 22 would only clutter test output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const config = resolveConfig(fixtureConfig, { stage: 'dev' });
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, STACK, { config, projectRoot: resolve(__dirname, '..', '..'), env: { account: ACCOUNT, region: REGION } });
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true });
  const tpl = template.toJSON() as { Resources: Record<string, { Type: string }>; Outputs: Record<string, { Value: unknown; Description?: string }> };
  const idOf = (c: { node: { defaultChild?: unknown } }) => Stack.of(stack).getLogicalId(c.node.defaultChild as CfnElement);

  const [sqs, dynamo, sfn] = await Promise.all([startSqsEmulator({ region: REGION }), startLocalDynamo(REGION), startSfnStandin()]);
  const queues = { spool: 'spool', quarantine: 'quarantine', failedInvocations: 'failed-invocations', tick: 'tick' };
  const urls = {
    spool: await sqs.createQueue(queues.spool),
    quarantine: await sqs.createQueue(queues.quarantine),
    failedInvocations: await sqs.createQueue(queues.failedInvocations),
    tick: await sqs.createQueue(queues.tick),
  };
  await dynamo.createTable(TABLE);
  const localIds: Record<string, string> = {
    [idOf(stack.spool.queue)]: urls.spool,
    [idOf(stack.spool.quarantine)]: urls.quarantine,
    [idOf(stack.spool.failedInvocations)]: urls.failedInvocations,
    [idOf(stack.tickStarter.tickQueue)]: urls.tick,
    [idOf(stack.coordination.table)]: TABLE,
    [idOf(stack.reprocess.function)]: REPROCESS_FUNCTION,
  };
  const physical: Physical = (id, type) => {
    if (localIds[id]) return localIds[id];
    if (type === 'AWS::StepFunctions::StateMachine') return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${id}`;
    if (type === 'AWS::CloudWatch::Alarm') return `${STACK}-${id}`;
    if (type === 'AWS::SQS::Queue') return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${STACK}-${id}`;
    return `${STACK}-${id}`;
  };
  const outputs: StandinStackOutput[] = Object.entries(tpl.Outputs ?? {}).map(([key, o]) => ({ OutputKey: key, OutputValue: resolveValue(o.Value, tpl.Resources, physical), Description: o.Description }));
  const resources: StandinStackResource[] = Object.entries(tpl.Resources).map(([id, r]) => ({ LogicalResourceId: id, PhysicalResourceId: physical(id, r.Type), ResourceType: r.Type }));
  const stateMachines = new Map([...stack.workflows].map(([job, w]) => [job, physical(idOf(w.stateMachine), 'AWS::StepFunctions::StateMachine')]));
  const alarmNames = resources.filter((r) => r.ResourceType === 'AWS::CloudWatch::Alarm').map((r) => r.PhysicalResourceId);

  /** A function's environment exactly as its construct synthesized it, references resolved to the local resources. */
  const environmentOf = (logicalId: string): Record<string, string> => {
    const fn = tpl.Resources[logicalId] as unknown as { Properties: { Environment: { Variables: unknown } } };
    const ref: RefResolver = (id, type, attribute) => {
      const p = physical(id, type);
      if (attribute === undefined) return p;
      if (type === 'AWS::SQS::Queue' && attribute === 'Arn') return `arn:aws:sqs:${REGION}:${ACCOUNT}:${p.split('/').pop()}`;
      if (type === 'AWS::StepFunctions::StateMachine' && attribute === 'Name') return p.split(':').pop()!;
      if (type === 'AWS::Lambda::Function' && attribute === 'Arn') return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${p}`;
      return p;
    };
    const vars = resolveIntrinsics(fn.Properties.Environment.Variables, tpl.Resources as never, ref, { region: REGION, account: ACCOUNT, stackName: STACK }) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)]));
  };
  const producerFn = stack.producers.get(PRODUCER_JOB)!.function;
  const producerName = physical(idOf(producerFn), 'AWS::Lambda::Function');
  const producer = { functionName: producerName, functionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${producerName}` };
  const clientStream = physical(idOf(stack.paramLog.clientStream), 'AWS::KinesisFirehose::DeliveryStream');
  const firehoseOut = mkdtempSync(join(tmpdir(), 'operator-firehose-'));
  const firehose = await startFirehoseStandin({ outDir: firehoseOut, streams: { [clientStream]: 'client' }, timeZone: config.timeZone, bufferSeconds: 900 });
  // The producer MACs the records it writes (the template's key ARN: any id is a key here).
  const kms = await startKmsStandin();
  // The on-failure destination sends with the producer's role; here, with the stand-in's own client.
  const destination = new SQSClient({ region: REGION, endpoint: sqs.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const functionRuntime = { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: REGION };
  const logRoot = opts.logRoot ?? mkdtempSync(join(tmpdir(), 'operator-log-'));
  const outputValue = (k: string) => outputs.find((o) => o.OutputKey === k)?.OutputValue as string;
  const [lambda, athena, cfn, cloudWatch, sts] = await Promise.all([
    startLambdaStandin(REGION, {
      [REPROCESS_FUNCTION]: {
        load: async () => (await import('../../lambdas/reprocess/handler')).handler as unknown as StandinHandler,
        // Exactly as the Reprocess construct sets them (read from the synthesized template, references
        // resolved to the local resources), with the function's own credentials.
        environment: { ...environmentOf(idOf(stack.reprocess.function)), ...functionRuntime, AWS_ACCESS_KEY_ID: 'AKIAREPROCESSROLE' },
        timeoutMs: 60_000,
      },
      [producerName]: {
        load: async () => (await import('../../lambdas/jobs/example-api/producer')).handler as unknown as StandinHandler,
        environment: { ...environmentOf(idOf(producerFn)), ...functionRuntime, AWS_ACCESS_KEY_ID: 'AKIAPRODUCERROLE' },
        timeoutMs: 60_000,
        // Lambda's two retries run at once here (their 1- and 2-minute waits are not modelled).
        retryAttempts: 2,
        onFailure: async (record) => void (await destination.send(new SendMessageCommand({ QueueUrl: urls.failedInvocations, MessageBody: JSON.stringify(record) }))),
      },
    }, ACCOUNT),
    startAthenaStandin({ region: REGION, workGroup: outputValue('OperatorAthenaWorkGroup'), database: outputValue('OperatorAthenaDatabase'), logRoot }),
    startCloudFormationStandin([{ StackName: STACK, region: REGION, outputs, resources }]),
    startCloudWatchStandin(
      REGION,
      alarmNames.map((AlarmName) => ({ AlarmName, StateValue: 'OK' as const })),
    ),
    startStsStandin({ [OPERATOR_KEY]: { Arn: OPERATOR_ARN, Account: ACCOUNT, UserId: 'AROAOPERATOR:jane' } }),
  ]);
  const sns = await startSnsStandin(
    Object.fromEntries(resources.filter((r) => r.ResourceType === 'AWS::SNS::Topic').map((r) => [r.PhysicalResourceId, [{ Protocol: 'email', Endpoint: 'oncall@example.com', SubscriptionArn: `${r.PhysicalResourceId}:confirmed` }]])),
  );
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SNS: sns.endpoint,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: OPERATOR_KEY,
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
    AWS_ENDPOINT_URL_FIREHOSE: firehose.endpoint,
    AWS_ENDPOINT_URL_KMS: kms.endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  return {
    sqs,
    dynamo,
    sfn,
    lambda,
    athena,
    cfn,
    cloudWatch,
    sts,
    firehose,
    sns,
    producer,
    queues: { ...queues, urls },
    stateMachines,
    alarmNames,
    template,
    logRoot,
    async stop() {
      destination.destroy();
      await Promise.all([sqs.stop(), dynamo.stop(), sfn.stop(), lambda.stop(), athena.stop(), cfn.stop(), cloudWatch.stop(), sts.stop(), sns.stop(), firehose.close(), kms.stop()]);
      if (!opts.logRoot) rmSync(logRoot, { recursive: true, force: true });
      rmSync(firehoseOut, { recursive: true, force: true });
    },
  };
}
