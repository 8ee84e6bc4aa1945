import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AppFunction } from '../lib/app-function';
import { IamModel, Context, Principal } from './support/iam-harness';
import { synthApp } from './support/synth-app';

/**
 * Every runtime interaction of the system, evaluated against the synthesized policies (identity,
 * bucket, queue, topic, key and trust policies together) by a real IAM policy engine
 * (@cloud-copilot/iam-simulate): what must work is Allowed, what must never work is Denied.
 * Adding an interaction is one line in ALLOWED or DENIED.
 */

const { stack, template, config } = synthApp();
const m = new IamModel(stack, template);
const ACC = m.account;
const REGION = m.region;
const OTHER_ACCOUNT = '999999999999';

// ---- resources (placeholder ARNs, as the policies hold them)
const arn = (token: string) => m.value(token);
const spool = arn(stack.spool.queue.queueArn);
const quarantine = arn(stack.spool.quarantine.queueArn);
const failedInvocations = arn(stack.spool.failedInvocations.queueArn);
const paramsKey = arn(stack.paramsKey.key.keyArn);
const logBucket = arn(stack.paramLog.bucket.bucketArn);
const logKey = arn(stack.paramLog.key.keyArn);
const resultsBucket = arn(stack.investigation.resultsBucket.bucketArn);
const topic = arn(stack.alerts.topic.topicArn);
const topicKey = arn(stack.alerts.topicKey.keyArn);
const table = arn(stack.coordination.table.tableArn);
const stepTable = arn(stack.stepResults.table.tableArn);
const jobs = config.jobs.map((j) => j.name);
const sm = (job: string) => arn(stack.workflows.get(job)!.stateMachine.stateMachineArn);
const execution = (job: string) => `${sm(job).replace(':stateMachine:', ':execution:')}:${job}-20260101T0000-abc123`;
const fnArn = (fn: lambda.IFunction) => arn(fn.functionArn);
const logStreamOf = (fn: lambda.Function) => `arn:aws:logs:${REGION}:${ACC}:log-group:${arn(fn.logGroup.logGroupName)}:log-stream:2026/01/01/[$LATEST]0123456789abcdef`;
const allFunctions = stack.node.findAll().filter((c): c is AppFunction => c instanceof AppFunction);
const day = 'year=2026/month=01/day=01';
const object = (bucket: string, key: string) => `${bucket}/${key}`;
const otherStateMachine = `arn:aws:states:${REGION}:${ACC}:stateMachine:SomebodyElsesMachine`;
const tickQueue = arn(stack.tickStarter.tickQueue.queueArn);
const tickDeadLetters = arn(stack.tickStarter.deadLetterQueue.queueArn);

// ---- request context of KMS use through a service (the encryption context each service sends)
const service = (name: string) => `${name}.${REGION}.amazonaws.com`;
const viaSqs = (queue: string): Context => ({ 'kms:ViaService': service('sqs'), 'kms:EncryptionContext:aws:sqs:arn': queue });
const viaStates = (machine: string): Context => ({ 'kms:ViaService': service('states'), 'kms:EncryptionContext:aws:states:stateMachineArn': machine });
// The execution role calls KMS itself for execution data (AWS Step Functions "Data at rest encryption").
const executionData = (machine: string): Context => ({ 'kms:EncryptionContext:aws:states:stateMachineArn': machine });
// Bucket keys: the context is the bucket ARN (Amazon S3 user guide, "S3 Bucket Keys").
const viaS3 = (bucket: string): Context => ({ 'kms:ViaService': service('s3'), 'kms:EncryptionContext:aws:s3:arn': bucket });
// Table keys: the context names the table (AWS KMS developer guide, "How Amazon DynamoDB uses AWS KMS").
const viaDynamo = (tableName: string): Context => ({ 'kms:ViaService': service('dynamodb'), 'kms:EncryptionContext:aws:dynamodb:tableName': tableName });

// ---- principals
const producer = (job: string) => stack.producers.get(job)!;
const producerRole = (job: string) => m.role(producer(job).function.role!);
const scheduleRole = (job: string) => m.role(producer(job).node.findChild('ScheduleRole') as iam.Role);
const machineRole = (job: string) => m.role(stack.workflows.get(job)!.stateMachine.role);
const workflow = (job: string) => stack.workflows.get(job)!;
const recordFn = workflow(jobs[0]).recordFunction;
const lockFn = stack.node.tryFindChild('Lock') as lambda.Function | undefined;
const [clientDelivery, workerDelivery] = stack.paramLog.writerRoles.map((r) => m.role(r));
const reprocess = m.role(stack.reprocess.function.role!);
const monitorFn = stack.investigation.monitor.function;
const captureFn = stack.executionCapture.function;
const capture = m.role(captureFn.role!);
const captureRule = arn(stack.executionCapture.rule.ruleArn);
const captureFailures = arn(stack.executionCapture.failuresQueue.queueArn);
const reconcilerFn = stack.reconciler.function;
const reconciler = m.role(reconcilerFn.role!);
const reconcilerRule = arn(stack.reconciler.rule.ruleArn);
const starter = m.role(stack.tickStarter.function.role!);
const sweeperFn = stack.sweeper.function;
const sweeper = m.role(sweeperFn.role!);
const sweeperScheduleRole = stack.sweeper.node.findChild('ScheduleRole') as iam.Role;
const monitor = m.role(monitorFn.role!);
const monitorSchedule = m.role(stack.investigation.monitor.node.findChild('ScheduleRole') as iam.Role);
const readerArn = (account: string) => `arn:aws:iam::${account}:role/aws-reserved/sso.amazonaws.com/${REGION}/AWSReservedSSO_SREReadOnly_0123456789abcdef`;
// The reader's own permission set lives outside the stack: only what Step Functions needs (it has no
// resource policies). Buckets, queues and keys must let the reader in by their own policies.
const reader = m.outsideRole(readerArn(ACC), [{ Effect: 'Allow', Action: ['states:GetExecutionHistory', 'states:DescribeExecution'], Resource: '*' }], 'reader role');
const readerElsewhere = m.outsideRole(readerArn(OTHER_ACCOUNT), [{ Effect: 'Allow', Action: ['s3:GetObject', 'sqs:ReceiveMessage', 'kms:Decrypt'], Resource: '*' }], 'same-named reader role of another account');
const ADMINISTRATOR_ACCESS = [{ Effect: 'Allow', Action: '*', Resource: '*' }];
// A person on call: a reader role that may also invoke reprocess (docs/operator-cli.md, "IAM"), and
// SQS rights of its own on the app's queues, which the locks must still refuse.
const operator = m.outsideRole(
  readerArn(ACC).replace('SREReadOnly', 'SREReadOnly_Operator'),
  [
    { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: arn(stack.reprocess.function.functionArn) },
    { Effect: 'Allow', Action: ['sqs:DeleteMessage', 'sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility'], Resource: '*' },
  ],
  'operator role (invokes reprocess, reads queues)',
);
// What reprocess may invoke, by the allow-list the stack passes it; and functions it must never invoke.
const reinvocable: Array<[string, lambda.IFunction]> = [
  ...jobs.map((job): [string, lambda.IFunction] => [`the ${job} producer`, stack.producers.get(job)!.function]),
  ['the status-change capture', stack.executionCapture.function],
  ['the sweeper', stack.sweeper.function],
  ['the lost-task monitor', stack.investigation.monitor.function],
];
const admin = m.outsideRole(`arn:aws:iam::${ACC}:role/Admin`, ADMINISTRATOR_ACCESS, 'account administrator (AdministratorAccess)');
const stranger = m.outsideRole(`arn:aws:iam::${ACC}:role/Stranger`, [{ Effect: 'Allow', Action: ['sqs:*', 'kms:*'], Resource: '*' }], 'stranger role with sqs:* and kms:*');
const deployRole = m.outsideRole(`arn:aws:iam::${ACC}:role/cdk-hnb659fds-cfn-exec-role-${ACC}-${REGION}`, ADMINISTRATOR_ACCESS, 'CloudFormation execution role');
// Look-alikes: roles an administrator could create later whose names the old patterns matched
// (`cdk-*-cfn-exec-role-...`, `AWSReservedSSO_SREReadOnly_*`). Exact ARNs let neither in.
const deployLookAlike = m.outsideRole(`arn:aws:iam::${ACC}:role/cdk-anything-cfn-exec-role-${ACC}-${REGION}`, ADMINISTRATOR_ACCESS, 'a role named like a deploy role');
const readerLookAlike = m.outsideRole(
  `arn:aws:iam::${ACC}:role/aws-reserved/sso.amazonaws.com/${REGION}/AWSReservedSSO_SREReadOnly_Admins_0123456789abcdef`,
  [{ Effect: 'Allow', Action: ['states:GetExecutionHistory', 'states:DescribeExecution', 's3:GetObject', 's3:ListBucket', 'sqs:ReceiveMessage', 'kms:Decrypt'], Resource: '*' }],
  'another permission set whose name starts like the reader\'s',
);
const alarm = `arn:aws:cloudwatch:${REGION}:${ACC}:alarm:${m.logicalId(stack.operations.spoolNotEmptyAlarm)}`;
const cloudwatch = m.service('cloudwatch.amazonaws.com', { account: ACC, arn: alarm });
const scheduler = m.service('scheduler.amazonaws.com', { account: ACC, arn: `arn:aws:scheduler:${REGION}:${ACC}:schedule-group/default` });
const states = (job: string) => m.service('states.amazonaws.com', { account: ACC, arn: sm(job) });
const firehose = m.service('firehose.amazonaws.com', { account: ACC });
const logDelivery = m.service('delivery.logs.amazonaws.com', { account: ACC });

interface Arrow {
  readonly name: string;
  readonly principal: Principal;
  readonly action: string;
  readonly resource: string;
  readonly context?: Context;
  /** For a denial: must an explicit Deny decide it (a lock), or is the absence of any grant enough? */
  readonly explicit?: boolean;
}
const arrow = (name: string, principal: Principal, action: string, resource: string, context?: Context): Arrow => ({ name, principal, action, resource, context });
const locked = (name: string, principal: Principal, action: string, resource: string, context?: Context): Arrow => ({ name, principal, action, resource, context, explicit: true });

const ALLOWED: Arrow[] = [
  ...jobs.flatMap((job) => [
    arrow(`Scheduler assumes the ${job} schedule role`, scheduler, 'sts:AssumeRole', arn((producer(job).node.findChild('ScheduleRole') as iam.Role).roleArn)),
    arrow(`scheduler invokes the ${job} producer`, scheduleRole(job), 'lambda:InvokeFunction', fnArn(producer(job).function)),
    arrow(`scheduler dead-letters a ${job} tick`, scheduleRole(job), 'sqs:SendMessage', arn(producer(job).deadLetterQueue.queueArn)),
    arrow(`${job} producer writes a batch to the tick queue`, producerRole(job), 'sqs:SendMessage', tickQueue),
    arrow(`${job} producer encrypts for the tick queue`, producerRole(job), 'kms:GenerateDataKey', paramsKey, viaSqs(tickQueue)),
    arrow(`${job} producer verifies the tick queue data key`, producerRole(job), 'kms:Decrypt', paramsKey, viaSqs(tickQueue)),
    arrow(`${job} producer quarantines a rejected spec`, producerRole(job), 'sqs:SendMessage', quarantine),
    arrow(`${job} producer keeps a failed tick (on-failure destination)`, producerRole(job), 'sqs:SendMessage', failedInvocations),
    arrow(`${job} producer records its tick in the ledger`, producerRole(job), 'dynamodb:UpdateItem', table, { 'dynamodb:LeadingKeys': [`tick#${job}#20260101T0000Z`] }),
    arrow(`${job} producer reads its pause switch`, producerRole(job), 'dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': [`pause#${job}`] }),
    arrow(`${job} producer writes client records to Firehose`, producerRole(job), 'firehose:PutRecordBatch', arn(stack.paramLog.clientStream.deliveryStreamArn)),
    arrow(`tick starter starts ${job}`, starter, 'states:StartExecution', sm(job)),
    arrow(`Step Functions assumes the ${job} state machine role`, states(job), 'sts:AssumeRole', arn(workflow(job).stateMachine.role.roleArn)),
    ...[...workflow(job).stepFunctions.values(), recordFn, ...(config.jobs.find((j) => j.name === job)!.exclusiveBy && lockFn ? [lockFn] : [])].map((fn) =>
      arrow(`${job} state machine invokes ${fn.node.id}`, machineRole(job), 'lambda:InvokeFunction', fnArn(fn)),
    ),
    arrow(`${job} state machine spools a failure`, machineRole(job), 'sqs:SendMessage', spool),
    arrow(`${job} state machine encrypts for the spool`, machineRole(job), 'kms:GenerateDataKey', paramsKey, viaSqs(spool)),
    arrow(`${job} state machine encrypts its execution data`, machineRole(job), 'kms:GenerateDataKey', paramsKey, executionData(sm(job))),
    arrow(`${job} state machine reads its execution data`, machineRole(job), 'kms:Decrypt', paramsKey, executionData(sm(job))),
    arrow(`reprocess starts ${job}`, reprocess, 'states:StartExecution', sm(job)),
    arrow(`reprocess describes a ${job} execution`, reprocess, 'states:DescribeExecution', execution(job)),
    arrow(`reprocess decrypts a ${job} execution`, reprocess, 'kms:Decrypt', paramsKey, viaStates(sm(job))),
    arrow(`reader reads a ${job} execution's history`, reader, 'states:GetExecutionHistory', execution(job)),
    arrow(`reader decrypts a ${job} execution's history`, reader, 'kms:Decrypt', paramsKey, viaStates(sm(job))),
    arrow(`CloudFormation reads the ${job} state machine definition`, deployRole, 'kms:Decrypt', paramsKey, viaStates(sm(job))),
  ]),
  ...allFunctions.flatMap((fn) => [
    arrow(`${fn.node.path} writes its own log`, m.role(fn.role!), 'logs:PutLogEvents', logStreamOf(fn)),
    // Requested on the stream's ARN: a grant on `log-group:<name>:*` (the Lambda console's own
    // execution-role policy) lets a function open its streams.
    arrow(`${fn.node.path} opens a log stream in its own group`, m.role(fn.role!), 'logs:CreateLogStream', logStreamOf(fn)),
  ]),
  arrow('record-outcome writes worker records to Firehose', m.role(recordFn.role!), 'firehose:PutRecordBatch', arn(stack.paramLog.workerStream.deliveryStreamArn)),
  ...(lockFn ? [arrow('lock function takes a lock', m.role(lockFn.role!), 'dynamodb:PutItem', table, { 'dynamodb:LeadingKeys': ['lock#example-fanout#0123abcd'] })] : []),
  ...[...stack.workflows.values()].flatMap((w) => [...w.stepFunctions.entries()])
    .filter(([step]) => config.jobs.some((j) => j.steps.some((s) => s.kind === 'lambda' && s.name === step && s.dependsOn)))
    .map(([step, fn]) => arrow(`step ${step} reads its dependency's hold switch`, m.role(fn.role!), 'dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': ['hold#orders-api'] })),
  // Idempotent steps: each step records its own job's calls (lambdas/shared/step-idempotency.ts)
  // in the step-results table, inside the read lock (test/step-results-table.test.ts has the rest).
  ...[...stack.workflows.entries()].flatMap(([job, w]) =>
    [...w.stepFunctions.entries()].flatMap(([step, fn]) => [
      ...['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'].map((action) =>
        arrow(`step ${step} of ${job} keeps its record (${action})`, m.role(fn.role!), action, stepTable, { 'dynamodb:LeadingKeys': [`idem#${job}#AbC+/0=`] }),
      ),
      arrow(`step ${step} of ${job} decrypts the step-results table key`, m.role(fn.role!), 'kms:Decrypt', paramsKey, viaDynamo(arn(stack.stepResults.table.tableName))),
    ]),
  ),
  // Firehose -> S3 with the key
  arrow('Firehose assumes the client delivery role', firehose, 'sts:AssumeRole', arn(stack.paramLog.writerRoles[0].roleArn), { 'sts:ExternalId': ACC }),
  arrow('Firehose writes a client record', clientDelivery, 's3:PutObject', object(logBucket, `client/${day}/stream-1-2026-01-01-00-00-00-abc.gz`)),
  arrow('Firehose writes a client error record', clientDelivery, 's3:PutObject', object(logBucket, `errors/client/processing-failed/${day}/stream-1.gz`)),
  arrow('Firehose aborts a client multipart upload', clientDelivery, 's3:AbortMultipartUpload', object(logBucket, `client/${day}/x.gz`)),
  arrow('Firehose encrypts a client record', clientDelivery, 'kms:GenerateDataKey', logKey, viaS3(logBucket)),
  arrow('Firehose logs a client delivery error', clientDelivery, 'logs:PutLogEvents', `arn:aws:logs:${REGION}:${ACC}:log-group:${arn((stack.paramLog.node.findChild('ClientDeliveryLogs') as import('aws-cdk-lib/aws-logs').LogGroup).logGroupName)}:log-stream:${arn(((stack.paramLog.node.findChild('ClientDeliveryLogs').node.findChild('S3Destination')) as import('aws-cdk-lib/aws-logs').LogStream).logStreamName)}`),
  arrow('Firehose assumes the worker delivery role', firehose, 'sts:AssumeRole', arn(stack.paramLog.writerRoles[1].roleArn), { 'sts:ExternalId': ACC }),
  arrow('Firehose writes a worker record', workerDelivery, 's3:PutObject', object(logBucket, `worker/${day}/stream-2.gz`)),
  arrow('Firehose encrypts a worker record', workerDelivery, 'kms:GenerateDataKey', logKey, viaS3(logBucket)),
  // EventBridge -> the alarm topic for the tamper alarm, with its own role
  arrow('EventBridge assumes the tamper alarm\'s publish role', m.service('events.amazonaws.com', { account: ACC, arn: `arn:aws:events:${REGION}:${ACC}:rule/x` }), 'sts:AssumeRole', arn(stack.tamperAlarms.publishRole.roleArn)),
  arrow('the tamper alarm publishes to the alarm topic', m.role(stack.tamperAlarms.publishRole), 'sns:Publish', topic),
  arrow('the tamper alarm encrypts for the alarm topic', m.role(stack.tamperAlarms.publishRole), 'kms:GenerateDataKey', topicKey),
  // CloudWatch -> the alarm topic with its key
  arrow('CloudWatch publishes an alarm', cloudwatch, 'sns:Publish', topic),
  arrow('CloudWatch encrypts the alarm message', cloudwatch, 'kms:GenerateDataKey', topicKey),
  arrow('CloudWatch decrypts the alarm data key', cloudwatch, 'kms:Decrypt', topicKey),
  // reprocess: receive, delete, quarantine
  arrow('reprocess receives from the spool', reprocess, 'sqs:ReceiveMessage', spool),
  arrow('reprocess decrypts a spooled message', reprocess, 'kms:Decrypt', paramsKey, viaSqs(spool)),
  arrow('reprocess deletes a replayed message', reprocess, 'sqs:DeleteMessage', spool),
  arrow('reprocess hides a message it works on', reprocess, 'sqs:ChangeMessageVisibility', spool),
  arrow('reprocess quarantines a message', reprocess, 'sqs:SendMessage', quarantine),
  arrow('reprocess encrypts for the quarantine', reprocess, 'kms:GenerateDataKey', paramsKey, viaSqs(quarantine)),
  // reprocess: the routines for what ends outside the spool (people only invoke reprocess)
  arrow('reprocess receives from the quarantine', reprocess, 'sqs:ReceiveMessage', quarantine),
  arrow('reprocess decrypts a quarantined message', reprocess, 'kms:Decrypt', paramsKey, viaSqs(quarantine)),
  arrow('reprocess deletes a quarantined message it replayed or dropped', reprocess, 'sqs:DeleteMessage', quarantine),
  arrow('reprocess releases a quarantined message it leaves', reprocess, 'sqs:ChangeMessageVisibility', quarantine),
  arrow('reprocess receives a failed invocation', reprocess, 'sqs:ReceiveMessage', failedInvocations),
  arrow('reprocess decrypts a failed invocation', reprocess, 'kms:Decrypt', paramsKey, viaSqs(failedInvocations)),
  arrow('reprocess deletes a failed invocation it re-ran or dropped', reprocess, 'sqs:DeleteMessage', failedInvocations),
  arrow('reprocess releases a failed invocation it leaves', reprocess, 'sqs:ChangeMessageVisibility', failedInvocations),
  ...reinvocable.map(([name, fn]) => arrow(`reprocess re-invokes ${name}`, reprocess, 'lambda:InvokeFunction', fnArn(fn))),
  arrow('an operator invokes reprocess', operator, 'lambda:InvokeFunction', fnArn(stack.reprocess.function)),
  arrow('the lost-task monitor keeps a failed check (on-failure destination)', monitor, 'sqs:SendMessage', failedInvocations),
  arrow('the lost-task monitor encrypts for the failed invocations', monitor, 'kms:GenerateDataKey', paramsKey, viaSqs(failedInvocations)),
  // the monitor queries Athena over the bucket
  arrow('scheduler assumes the monitor schedule role', scheduler, 'sts:AssumeRole', arn((stack.investigation.monitor.node.findChild('ScheduleRole') as iam.Role).roleArn)),
  arrow('scheduler invokes the monitor', monitorSchedule, 'lambda:InvokeFunction', fnArn(monitorFn)),
  arrow('monitor starts a query in its workgroup', monitor, 'athena:StartQueryExecution', `arn:aws:athena:${REGION}:${ACC}:workgroup/${stack.investigation.workGroupName}`),
  arrow('monitor reads the client table', monitor, 'glue:GetTable', `arn:aws:glue:${REGION}:${ACC}:table/${stack.investigation.databaseName}/client_log`),
  arrow('monitor (through Athena) reads a client record', monitor, 's3:GetObject', object(logBucket, `client/${day}/a.gz`), { 'aws:CalledVia': ['athena.amazonaws.com'] }),
  arrow('monitor (through Athena) lists the log', monitor, 's3:ListBucket', logBucket),
  arrow('monitor (through Athena) decrypts a record', monitor, 'kms:Decrypt', logKey, viaS3(logBucket)),
  arrow('monitor (through Athena) writes its result', monitor, 's3:PutObject', object(resultsBucket, 'athena/0123-abcd.csv')),
  arrow('monitor (through Athena) reads its result', monitor, 's3:GetObject', object(resultsBucket, 'athena/0123-abcd.csv')),
  arrow('monitor encrypts its result', monitor, 'kms:GenerateDataKey', logKey, viaS3(resultsBucket)),
  // a reader role reads records, query results, the spool
  arrow('reader reads a client record', reader, 's3:GetObject', object(logBucket, `client/${day}/a.gz`)),
  arrow('reader reads a worker record', reader, 's3:GetObject', object(logBucket, `worker/${day}/a.gz`)),
  // errors/ holds records Firehose could not deliver as is, params included: readers investigate them too
  arrow('reader reads a client error record', reader, 's3:GetObject', object(logBucket, `errors/client/processing-failed/${day}/a.gz`)),
  arrow('reader reads a worker error record', reader, 's3:GetObject', object(logBucket, `errors/worker/processing-failed/${day}/a.gz`)),
  arrow('reader lists the log', reader, 's3:ListBucket', logBucket),
  arrow('reader decrypts a record', reader, 'kms:Decrypt', logKey, viaS3(logBucket)),
  arrow('reader (through Athena) writes a query result', reader, 's3:PutObject', object(resultsBucket, 'athena/reader-1.csv')),
  arrow('reader reads a query result', reader, 's3:GetObject', object(resultsBucket, 'athena/reader-1.csv')),
  arrow('reader encrypts a query result', reader, 'kms:GenerateDataKey', logKey, viaS3(resultsBucket)),
  arrow('reader looks at a spooled message', reader, 'sqs:ReceiveMessage', spool),
  arrow('reader decrypts a spooled message', reader, 'kms:Decrypt', paramsKey, viaSqs(spool)),
  arrow('reader looks at a quarantined message', reader, 'sqs:ReceiveMessage', quarantine),
  arrow('reader looks at a failed invocation', reader, 'sqs:ReceiveMessage', failedInvocations),
  // CloudWatch Logs delivery of a state machine's (error) log with the params key
  arrow('CloudWatch Logs delivery decrypts for this account', logDelivery, 'kms:Decrypt', paramsKey),
  // the status-change capture reads an ended execution and spools it
  arrow('EventBridge invokes the capture for its rule', m.service('events.amazonaws.com', { account: ACC, arn: captureRule }), 'lambda:InvokeFunction', fnArn(captureFn)),
  ...jobs.flatMap((job) => [
    arrow(`capture describes an ended ${job} execution`, capture, 'states:DescribeExecution', execution(job)),
    arrow(`capture reads an ended ${job} execution's history`, capture, 'states:GetExecutionHistory', execution(job)),
    arrow(`capture decrypts a ${job} execution's data`, capture, 'kms:Decrypt', paramsKey, viaStates(sm(job))),
  ]),
  arrow('capture spools an ended execution', capture, 'sqs:SendMessage', spool),
  arrow('capture encrypts for the spool', capture, 'kms:GenerateDataKey', paramsKey, viaSqs(spool)),
  arrow('capture keeps an event it failed on in its failures queue (on-failure destination)', capture, 'sqs:SendMessage', captureFailures),
  arrow('capture marks an execution captured', capture, 'dynamodb:UpdateItem', table, { 'dynamodb:LeadingKeys': ['capture#arn:aws:states:x:1:execution:sm:name'] }),
  // the reconciler: lists ended executions, captures them as the capture does, drains the capture's failures
  arrow('EventBridge invokes the reconciler for its schedule', m.service('events.amazonaws.com', { account: ACC, arn: reconcilerRule }), 'lambda:InvokeFunction', fnArn(reconcilerFn)),
  ...jobs.flatMap((job) => [
    arrow(`reconciler lists ended ${job} executions`, reconciler, 'states:ListExecutions', sm(job)),
    arrow(`reconciler describes an ended ${job} execution`, reconciler, 'states:DescribeExecution', execution(job)),
    arrow(`reconciler reads an ended ${job} execution's history`, reconciler, 'states:GetExecutionHistory', execution(job)),
    arrow(`reconciler decrypts a ${job} execution's data`, reconciler, 'kms:Decrypt', paramsKey, viaStates(sm(job))),
  ]),
  arrow('reconciler spools an ended execution', reconciler, 'sqs:SendMessage', spool),
  arrow('reconciler encrypts for the spool', reconciler, 'kms:GenerateDataKey', paramsKey, viaSqs(spool)),
  arrow('reconciler receives a capture failure', reconciler, 'sqs:ReceiveMessage', captureFailures),
  arrow('reconciler deletes a capture failure it captured', reconciler, 'sqs:DeleteMessage', captureFailures),
  arrow('reconciler writes a worker record', reconciler, 'firehose:PutRecordBatch', arn(stack.paramLog.workerStream.deliveryStreamArn)),
  arrow('reconciler reads a capture mark', reconciler, 'dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': ['capture#arn:aws:states:x:1:execution:sm:name'] }),
  arrow('reconciler writes its watermark', reconciler, 'dynamodb:PutItem', table, { 'dynamodb:LeadingKeys': ['reconcile#arn:aws:states:x:1:stateMachine:sm'] }),
  arrow('reconciler releases an ended execution\'s lock', reconciler, 'dynamodb:DeleteItem', table, { 'dynamodb:LeadingKeys': ['lock#example-fanout#0123abcd'] }),
  // reprocess records each replay it starts (attempt N+1) for the lost-task monitor
  arrow('reprocess writes a replay\'s client record', reprocess, 'firehose:PutRecordBatch', arn(stack.paramLog.clientStream.deliveryStreamArn)),
  arrow('capture writes a worker record', capture, 'firehose:PutRecordBatch', arn(stack.paramLog.workerStream.deliveryStreamArn)),
  arrow('capture releases an ended execution\'s lock', capture, 'dynamodb:DeleteItem', table, { 'dynamodb:LeadingKeys': ['lock#example-fanout#0123abcd'] }),
  arrow('capture keeps the lock of an execution stopped in a step', capture, 'dynamodb:UpdateItem', table, { 'dynamodb:LeadingKeys': ['lock#example-fanout#0123abcd'] }),
  // the tick starter: its event source reads the tick queue with its role
  arrow('tick starter receives a batch', starter, 'sqs:ReceiveMessage', tickQueue),
  arrow('tick starter decrypts a batch', starter, 'kms:Decrypt', paramsKey, viaSqs(tickQueue)),
  arrow('tick starter deletes a batch it started', starter, 'sqs:DeleteMessage', tickQueue),
  arrow('tick starter hands the rest of a batch on', starter, 'sqs:SendMessage', tickQueue),
  arrow('tick starter encrypts for the tick queue', starter, 'kms:GenerateDataKey', paramsKey, viaSqs(tickQueue)),
  arrow('tick starter spools a start failure', starter, 'sqs:SendMessage', spool),
  arrow('tick starter encrypts for the spool', starter, 'kms:GenerateDataKey', paramsKey, viaSqs(spool)),
  arrow('tick starter quarantines a task Step Functions refuses', starter, 'sqs:SendMessage', quarantine),
  arrow('tick starter writes client records', starter, 'firehose:PutRecordBatch', arn(stack.paramLog.clientStream.deliveryStreamArn)),
  arrow('tick starter checkpoints a batch', starter, 'dynamodb:UpdateItem', table, { 'dynamodb:LeadingKeys': ['batch#example-api#20260101T0000Z#0123456789abcdef#0'] }),
  arrow('tick starter reads a batch', starter, 'dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': ['batch#example-api#20260101T0000Z#0123456789abcdef#0'] }),
  arrow('tick starter counts a batch on its tick', starter, 'dynamodb:UpdateItem', table, { 'dynamodb:LeadingKeys': ['tick#example-api#20260101T0000Z'] }),
  arrow('tick starter receives a dead letter to redrive', starter, 'sqs:ReceiveMessage', tickDeadLetters),
  arrow('tick starter decrypts a dead letter', starter, 'kms:Decrypt', paramsKey, viaSqs(tickDeadLetters)),
  arrow('tick starter deletes a redriven dead letter', starter, 'sqs:DeleteMessage', tickDeadLetters),
  arrow('reader looks at a tick batch', reader, 'sqs:ReceiveMessage', tickQueue),
  arrow('reader looks at a tick dead letter', reader, 'sqs:ReceiveMessage', tickDeadLetters),
  arrow('sweeper receives a tick dead letter', sweeper, 'sqs:ReceiveMessage', tickDeadLetters),
  arrow('sweeper decrypts a tick dead letter', sweeper, 'kms:Decrypt', paramsKey, viaSqs(tickDeadLetters)),
  arrow('sweeper re-sends a tick dead letter', sweeper, 'sqs:SendMessage', tickDeadLetters),
  arrow('sweeper encrypts a tick dead letter', sweeper, 'kms:GenerateDataKey', paramsKey, viaSqs(tickDeadLetters)),
  arrow('sweeper deletes the original tick dead letter', sweeper, 'sqs:DeleteMessage', tickDeadLetters),
  // the sweeper re-sends what would expire
  arrow('scheduler assumes the sweeper schedule role', scheduler, 'sts:AssumeRole', arn(sweeperScheduleRole.roleArn)),
  arrow('scheduler invokes the sweeper', m.role(sweeperScheduleRole), 'lambda:InvokeFunction', fnArn(sweeperFn)),
  ...(
    [
      ['spool', spool],
      ['quarantine', quarantine],
      ['failed invocations', failedInvocations],
    ] as const
  ).flatMap(([name, queue]) => [
    arrow(`sweeper receives from the ${name}`, sweeper, 'sqs:ReceiveMessage', queue),
    arrow(`sweeper decrypts a message of the ${name}`, sweeper, 'kms:Decrypt', paramsKey, viaSqs(queue)),
    arrow(`sweeper re-sends to the ${name}`, sweeper, 'sqs:SendMessage', queue),
    arrow(`sweeper encrypts for the ${name}`, sweeper, 'kms:GenerateDataKey', paramsKey, viaSqs(queue)),
    arrow(`sweeper deletes the original in the ${name}`, sweeper, 'sqs:DeleteMessage', queue),
    arrow(`sweeper releases a young message of the ${name}`, sweeper, 'sqs:ChangeMessageVisibility', queue),
  ]),
  ...jobs.map((job) => arrow(`sweeper sweeps the ${job} schedule's dead letters`, sweeper, 'sqs:ReceiveMessage', arn(producer(job).deadLetterQueue.queueArn))),
];

const DENIED: Arrow[] = [
  // A step's records are its own job's, and a step writes no lock, ledger or hold.
  ...[...stack.workflows.entries()].flatMap(([job, w]) =>
    [...w.stepFunctions.entries()].flatMap(([step, fn]) => [
      arrow(`step ${step} of ${job} writes another job's record`, m.role(fn.role!), 'dynamodb:PutItem', stepTable, { 'dynamodb:LeadingKeys': [`idem#${job === 'example-api' ? 'example-fanout' : 'example-api'}#AbC+/0=`] }),
      arrow(`step ${step} of ${job} takes a lock`, m.role(fn.role!), 'dynamodb:PutItem', table, { 'dynamodb:LeadingKeys': ['lock#example-fanout#0123abcd'] }),
      arrow(`step ${step} of ${job} writes a hold switch`, m.role(fn.role!), 'dynamodb:PutItem', table, { 'dynamodb:LeadingKeys': ['hold#orders-api'] }),
    ]),
  ),
  // an account administrator reading params
  locked('administrator reads a record from the bucket', admin, 's3:GetObject', object(logBucket, `client/${day}/a.gz`)),
  locked('administrator reads an old version of a record', admin, 's3:GetObjectVersion', object(logBucket, `client/${day}/a.gz`)),
  locked('administrator decrypts with the log key', admin, 'kms:Decrypt', logKey, viaS3(logBucket)),
  locked('administrator reads a query result', admin, 's3:GetObject', object(resultsBucket, 'athena/reader-1.csv')),
  locked('administrator receives from the spool', admin, 'sqs:ReceiveMessage', spool),
  locked('administrator receives from the quarantine', admin, 'sqs:ReceiveMessage', quarantine),
  locked('administrator receives failed invocations', admin, 'sqs:ReceiveMessage', failedInvocations),
  locked('administrator decrypts a spooled message', admin, 'kms:Decrypt', paramsKey, viaSqs(spool)),
  locked('administrator purges the spool', admin, 'sqs:PurgeQueue', spool),
  ...jobs.map((job) => locked(`administrator decrypts a ${job} execution's history`, admin, 'kms:Decrypt', paramsKey, viaStates(sm(job)))),
  locked('administrator decrypts with the params key directly', admin, 'kms:Decrypt', paramsKey),
  locked('administrator decrypts a step record (the step-results table key)', admin, 'kms:Decrypt', paramsKey, viaDynamo(arn(stack.stepResults.table.tableName))),
  locked('administrator re-encrypts params under a key of theirs', admin, 'kms:ReEncryptFrom', paramsKey, viaSqs(spool)),
  // integrity of the parameter log
  locked('administrator overwrites a record', admin, 's3:PutObject', object(logBucket, `client/${day}/a.gz`)),
  locked('administrator deletes a record', admin, 's3:DeleteObject', object(logBucket, `client/${day}/a.gz`)),
  locked('administrator deletes a record version', admin, 's3:DeleteObjectVersion', object(logBucket, `client/${day}/a.gz`)),
  arrow('a writer deletes a record', clientDelivery, 's3:DeleteObject', object(logBucket, `client/${day}/a.gz`)),
  arrow('a writer deletes a record version', workerDelivery, 's3:DeleteObjectVersion', object(logBucket, `worker/${day}/a.gz`)),
  arrow('the client writer writes into the worker prefix', clientDelivery, 's3:PutObject', object(logBucket, `worker/${day}/forged.gz`)),
  arrow('the worker writer writes into the client prefix', workerDelivery, 's3:PutObject', object(logBucket, `client/${day}/forged.gz`)),
  arrow('a writer uses the log key outside S3', clientDelivery, 'kms:Decrypt', logKey),
  arrow('a writer uses the log key for another bucket', clientDelivery, 'kms:GenerateDataKey', logKey, viaS3('arn:aws:s3:::somebody-elses-bucket')),
  // the spool
  locked('a stranger role sends to the spool', stranger, 'sqs:SendMessage', spool),
  locked('a stranger role receives from the spool', stranger, 'sqs:ReceiveMessage', spool),
  locked('a stranger role decrypts a spooled message', stranger, 'kms:Decrypt', paramsKey, viaSqs(spool)),
  locked('a stranger role sends a failed invocation', stranger, 'sqs:SendMessage', failedInvocations),
  locked('a reader deletes a spooled message', reader, 'sqs:DeleteMessage', spool),
  locked('a reader purges the quarantine', reader, 'sqs:PurgeQueue', quarantine),
  ...jobs.map((job) => arrow(`${job} producer receives from the spool`, producerRole(job), 'sqs:ReceiveMessage', spool)),
  // the producer plans, the starter starts: a producer starts nothing and spools nothing
  ...jobs.map((job) => arrow(`${job} producer starts its state machine`, producerRole(job), 'states:StartExecution', sm(job))),
  ...jobs.map((job) => arrow(`${job} producer sends to the spool`, producerRole(job), 'sqs:SendMessage', spool)),
  ...jobs.map((job) => arrow(`${job} producer reads another job's pause`, producerRole(job), 'dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': [`pause#${job}-2`] })),
  ...jobs.map((job) => arrow(`${job} producer sets a pause (operators pause, producers only read)`, producerRole(job), 'dynamodb:PutItem', table, { 'dynamodb:LeadingKeys': [`pause#${job}`] })),
  ...jobs.map((job) => arrow(`${job} producer receives from the tick queue`, producerRole(job), 'sqs:ReceiveMessage', tickQueue)),
  arrow('tick starter starts a state machine that is not the app\'s', starter, 'states:StartExecution', otherStateMachine),
  arrow('tick starter takes a lock', starter, 'dynamodb:PutItem', table, { 'dynamodb:LeadingKeys': ['lock#example-fanout#0123abcd'] }),
  arrow('tick starter sends to its dead-letter queue', starter, 'sqs:SendMessage', tickDeadLetters),
  locked('administrator receives a tick batch', admin, 'sqs:ReceiveMessage', tickQueue),
  locked('administrator decrypts a tick batch', admin, 'kms:Decrypt', paramsKey, viaSqs(tickQueue)),
  locked('a stranger role sends a forged batch to the tick queue', stranger, 'sqs:SendMessage', tickQueue),
  locked('administrator receives a tick dead letter', admin, 'sqs:ReceiveMessage', tickDeadLetters),
  locked('a reader deletes a tick batch', reader, 'sqs:DeleteMessage', tickQueue),
  locked('a reader purges the tick dead-letter queue', reader, 'sqs:PurgeQueue', tickDeadLetters),
  // senders use the params key through SQS only; the execution role for its executions only
  ...jobs.map((job) => arrow(`${job} producer decrypts an execution's data`, producerRole(job), 'kms:Decrypt', paramsKey, viaStates(sm(job)))),
  ...jobs.map((job) => arrow(`${job} producer uses the params key directly`, producerRole(job), 'kms:Decrypt', paramsKey)),
  ...jobs.map((job) => arrow(`${job} state machine role uses the params key outside SQS and its executions`, machineRole(job), 'kms:Decrypt', paramsKey)),
  // reprocess invokes only the allow-listed functions, unqualified: no step, no starter, nothing else
  ...[...workflow(jobs[0]).stepFunctions.values(), recordFn, stack.tickStarter.function, stack.reprocess.function].map((fn) =>
    arrow(`reprocess invokes ${fn.node.path}`, reprocess, 'lambda:InvokeFunction', fnArn(fn)),
  ),
  arrow('reprocess invokes a version of a producer', reprocess, 'lambda:InvokeFunction', `${fnArn(producer(jobs[0]).function)}:1`),
  arrow('reprocess invokes a function that is not the app\'s', reprocess, 'lambda:InvokeFunction', `arn:aws:lambda:${REGION}:${ACC}:function:SomebodyElses`),
  arrow('reprocess sends to the spool', reprocess, 'sqs:SendMessage', spool),
  arrow('reprocess sends a failed invocation', reprocess, 'sqs:SendMessage', failedInvocations),
  // people: only through reprocess; the locks refuse their own SQS rights, an administrator's too
  locked('an operator deletes a quarantined message', operator, 'sqs:DeleteMessage', quarantine),
  locked('an operator deletes a failed invocation', operator, 'sqs:DeleteMessage', failedInvocations),
  locked('an operator sends a message back to the spool', operator, 'sqs:SendMessage', spool),
  locked('an operator sends to the quarantine', operator, 'sqs:SendMessage', quarantine),
  locked('a reader deletes a quarantined message', reader, 'sqs:DeleteMessage', quarantine),
  locked('a reader deletes a failed invocation', reader, 'sqs:DeleteMessage', failedInvocations),
  locked('administrator deletes a quarantined message', admin, 'sqs:DeleteMessage', quarantine),
  locked('administrator deletes a failed invocation', admin, 'sqs:DeleteMessage', failedInvocations),
  arrow('an operator invokes a producer', operator, 'lambda:InvokeFunction', fnArn(producer(jobs[0]).function)),
  // a caught failure is replayed as a new execution: a redrive would re-enter its Fail state
  ...jobs.map((job) => arrow(`reprocess redrives a ${job} execution`, reprocess, 'states:RedriveExecution', execution(job))),
  arrow('capture receives from the spool', capture, 'sqs:ReceiveMessage', spool),
  arrow('capture keeps a failure in the params-key failed-invocations queue', capture, 'sqs:SendMessage', failedInvocations),
  arrow('reconciler lists executions of a state machine that is not the app\'s', reconciler, 'states:ListExecutions', otherStateMachine),
  arrow('reconciler starts an execution', reconciler, 'states:StartExecution', sm(jobs[0])),
  arrow('reconciler stops an execution', reconciler, 'states:StopExecution', execution(jobs[0])),
  arrow('reconciler writes a tick ledger item', reconciler, 'dynamodb:UpdateItem', table, { 'dynamodb:LeadingKeys': ['tick#example-api#20260101T0000Z'] }),
  arrow('reconciler receives from the spool', reconciler, 'sqs:ReceiveMessage', spool),
  arrow('capture describes an execution of a state machine that is not the app\'s', capture, 'states:DescribeExecution', `${otherStateMachine.replace(':stateMachine:', ':execution:')}:x`),
  arrow('EventBridge invokes the capture for another rule', m.service('events.amazonaws.com', { account: ACC, arn: `${captureRule}-other` }), 'lambda:InvokeFunction', fnArn(captureFn)),
  arrow('sweeper starts an execution', sweeper, 'states:StartExecution', sm(jobs[0])),
  // reprocess never starts what is not the app's
  arrow('reprocess starts a state machine that is not the app\'s', reprocess, 'states:StartExecution', otherStateMachine),
  // outsiders and confused deputies
  arrow('a same-named reader role of another account reads a record', readerElsewhere, 's3:GetObject', object(logBucket, `client/${day}/a.gz`)),
  arrow('a same-named reader role of another account reads the spool', readerElsewhere, 'sqs:ReceiveMessage', spool),
  arrow('CloudWatch publishes for an alarm of another account', m.service('cloudwatch.amazonaws.com', { account: OTHER_ACCOUNT, arn: `arn:aws:cloudwatch:${REGION}:${OTHER_ACCOUNT}:alarm:x` }), 'sns:Publish', topic),
  arrow('CloudWatch uses the topic key for another account', m.service('cloudwatch.amazonaws.com', { account: OTHER_ACCOUNT, arn: `arn:aws:cloudwatch:${REGION}:${OTHER_ACCOUNT}:alarm:x` }), 'kms:GenerateDataKey', topicKey),
  arrow('an account role publishes to the alarm topic without a grant', stranger, 'sns:Publish', topic),
  arrow('EventBridge assumes the tamper alarm\'s publish role for another account', m.service('events.amazonaws.com', { account: OTHER_ACCOUNT, arn: `arn:aws:events:${REGION}:${OTHER_ACCOUNT}:rule/x` }), 'sts:AssumeRole', arn(stack.tamperAlarms.publishRole.roleArn)),
  arrow('the tamper alarm\'s publish role reads a record', m.role(stack.tamperAlarms.publishRole), 's3:GetObject', object(logBucket, `client/${day}/a.gz`)),
  arrow('Scheduler assumes a schedule role for another account', m.service('scheduler.amazonaws.com', { account: OTHER_ACCOUNT, arn: `arn:aws:scheduler:${REGION}:${OTHER_ACCOUNT}:schedule-group/default` }), 'sts:AssumeRole', arn((producer(jobs[0]).node.findChild('ScheduleRole') as iam.Role).roleArn)),
  arrow('Scheduler assumes a schedule role for another schedule group', m.service('scheduler.amazonaws.com', { account: ACC, arn: `arn:aws:scheduler:${REGION}:${ACC}:schedule-group/theirs` }), 'sts:AssumeRole', arn((producer(jobs[0]).node.findChild('ScheduleRole') as iam.Role).roleArn)),
  arrow('Firehose assumes a delivery role for another account', firehose, 'sts:AssumeRole', arn(stack.paramLog.writerRoles[0].roleArn), { 'sts:ExternalId': OTHER_ACCOUNT }),
  arrow('Firehose assumes a delivery role naming another source account', m.service('firehose.amazonaws.com', { account: OTHER_ACCOUNT }), 'sts:AssumeRole', arn(stack.paramLog.writerRoles[0].roleArn), { 'sts:ExternalId': ACC }),
  arrow('Step Functions assumes a state machine role for another account', m.service('states.amazonaws.com', { account: OTHER_ACCOUNT, arn: `arn:aws:states:${REGION}:${OTHER_ACCOUNT}:stateMachine:x` }), 'sts:AssumeRole', arn(workflow(jobs[0]).stateMachine.role.roleArn)),
  locked('CloudFormation\'s role decrypts a spooled message', deployRole, 'kms:Decrypt', paramsKey, viaSqs(spool)),
  // look-alike roles (exact principals): neither the deploy role's nor the reader's exemption reaches them
  ...jobs.map((job) => locked(`a role named like the deploy role decrypts a ${job} execution through Step Functions`, deployLookAlike, 'kms:Decrypt', paramsKey, viaStates(sm(job)))),
  locked('a role named like the deploy role decrypts a spooled message', deployLookAlike, 'kms:Decrypt', paramsKey, viaSqs(spool)),
  locked('a role named like the deploy role reads a record', deployLookAlike, 's3:GetObject', object(logBucket, `client/${day}/a.gz`)),
  locked('a role named like the deploy role receives from the spool', deployLookAlike, 'sqs:ReceiveMessage', spool),
  ...jobs.map((job) => locked(`a look-alike reader decrypts a ${job} execution's history`, readerLookAlike, 'kms:Decrypt', paramsKey, viaStates(sm(job)))),
  locked('a look-alike reader decrypts a spooled message', readerLookAlike, 'kms:Decrypt', paramsKey, viaSqs(spool)),
  locked('a look-alike reader reads a record', readerLookAlike, 's3:GetObject', object(logBucket, `client/${day}/a.gz`)),
  locked('a look-alike reader reads an error record', readerLookAlike, 's3:GetObject', object(logBucket, `errors/client/processing-failed/${day}/a.gz`)),
  locked('a look-alike reader decrypts with the log key', readerLookAlike, 'kms:Decrypt', logKey, viaS3(logBucket)),
  locked('a look-alike reader reads a query result', readerLookAlike, 's3:GetObject', object(resultsBucket, 'athena/reader-1.csv')),
  locked('a look-alike reader receives from the spool', readerLookAlike, 'sqs:ReceiveMessage', spool),
  locked('a look-alike reader receives from the quarantine', readerLookAlike, 'sqs:ReceiveMessage', quarantine),
  locked('a look-alike reader receives a tick batch', readerLookAlike, 'sqs:ReceiveMessage', tickQueue),
  locked('CloudWatch Logs delivery decrypts for another account', m.service('delivery.logs.amazonaws.com', { account: OTHER_ACCOUNT }), 'kms:Decrypt', paramsKey),
  // logs: each function its own group
  arrow('a step writes another function\'s log', m.role([...workflow(jobs[0]).stepFunctions.values()][0].role!), 'logs:PutLogEvents', logStreamOf(monitorFn)),
  arrow('a step creates a log group', m.role([...workflow(jobs[0]).stepFunctions.values()][0].role!), 'logs:CreateLogGroup', `arn:aws:logs:${REGION}:${ACC}:log-group:anything`),
];

test('every role policy of the template can be evaluated offline (no AWS managed policy ARNs)', () => {
  expect(m.unevaluable).toEqual([]);
});

test('there are arrows of every kind to evaluate', () => {
  // Every function of the app: producers, steps, record-outcome, lock, reprocess, monitor.
  expect(allFunctions.length).toBe(Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function').length);
  expect(ALLOWED.length).toBeGreaterThan(60);
  expect(DENIED.length).toBeGreaterThan(30);
});

describe('what must work is Allowed', () => {
  test.each(ALLOWED.map((a) => [a.name, a] as const))('%s', async (_name, a) => {
    const v = await m.evaluate(a.principal, a.action, a.resource, a.context);
    expect({ result: v.result, ignored: v.ignored }).toEqual({ result: 'Allowed', ignored: [] });
  });
});

describe('what must never work is Denied', () => {
  test.each(DENIED.map((a) => [a.name, a] as const))('%s', async (_name, a) => {
    const v = await m.evaluate(a.principal, a.action, a.resource, a.context);
    expect(v.ignored).toEqual([]);
    if (a.explicit) expect({ result: v.result, why: v.why }).toEqual({ result: 'ExplicitlyDenied', why: expect.any(String) });
    else expect(v.result).not.toBe('Allowed');
  });
});

/**
 * Controls: the same requests against the template with one lock removed are Allowed, so each
 * Denied above is the lock's doing, not an artefact of the harness.
 */
describe('each lock is what denies (the request is Allowed once that statement is removed)', () => {
  const without = (logicalId: string, sid: string): IamModel => {
    const t = structuredClone(template);
    const p = t.Resources[logicalId].Properties!;
    const doc = p.PolicyDocument ?? p.KeyPolicy;
    const before = doc.Statement.length;
    doc.Statement = doc.Statement.filter((s: { Sid?: string }) => s.Sid !== sid);
    if (doc.Statement.length !== before - 1) throw new Error(`${logicalId} has no statement ${sid}`);
    return new IamModel(stack, t);
  };
  const policyOf = (type: string, target: string) =>
    Object.keys(template.Resources).find((id) => template.Resources[id].Type === type && JSON.stringify(template.Resources[id].Properties).includes(`"${target}"`))!;
  const spoolId = m.logicalId(stack.spool.queue);
  const bucketId = m.logicalId(stack.paramLog.bucket);

  test.each([
    ['the spool read lock', () => without(policyOf('AWS::SQS::QueuePolicy', spoolId), 'DenyReceiveExceptConsumersAndReaders'), admin, 'sqs:ReceiveMessage', spool, {}],
    ['the spool send lock', () => without(policyOf('AWS::SQS::QueuePolicy', spoolId), 'DenySendExceptSenders'), stranger, 'sqs:SendMessage', spool, {}],
    ['the quarantine delete lock', () => without(policyOf('AWS::SQS::QueuePolicy', m.logicalId(stack.spool.quarantine)), 'DenyDeleteExceptConsumers'), operator, 'sqs:DeleteMessage', quarantine, {}],
    ['the failed-invocations delete lock', () => without(policyOf('AWS::SQS::QueuePolicy', m.logicalId(stack.spool.failedInvocations)), 'DenyDeleteExceptConsumers'), admin, 'sqs:DeleteMessage', failedInvocations, {}],
    ['the params key decrypt lock', () => without(m.logicalId(stack.paramsKey.key), 'DenyDecryptExceptNamedRoles'), admin, 'kms:Decrypt', paramsKey, viaStates(sm(jobs[0]))],
    ['the parameter-log read lock', () => without(policyOf('AWS::S3::BucketPolicy', bucketId), `DenyReadParamLogExceptNamedRoles`), admin, 's3:GetObject', object(logBucket, `client/${day}/a.gz`), {}],
    ['the parameter-log delete lock', () => without(policyOf('AWS::S3::BucketPolicy', bucketId), 'DenyDeleteExceptBreakGlass'), admin, 's3:DeleteObjectVersion', object(logBucket, `client/${day}/a.gz`), {}],
    ['the parameter-log write lock', () => without(policyOf('AWS::S3::BucketPolicy', bucketId), 'DenyWriteExceptDeliveryRoles'), admin, 's3:PutObject', object(logBucket, `client/${day}/a.gz`), {}],
  ] as const)('%s', async (_name, model, principal, action, resource, context) => {
    expect((await m.evaluate(principal, action, resource, context)).result).toBe('ExplicitlyDenied');
    expect((await model().evaluate(principal, action, resource, context)).result).toBe('Allowed');
  });

  test('exact principals are what refuses the look-alikes: with the old patterns both get in', async () => {
    const t = structuredClone(template);
    const keyId = m.logicalId(stack.paramsKey.key);
    const patterns = [`arn:aws:iam::${ACC}:role/cdk-*-cfn-exec-role-${ACC}-${REGION}`, `arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_SREReadOnly_*`];
    for (const st of t.Resources[keyId].Properties!.KeyPolicy.Statement as Array<{ Sid?: string; Condition?: Record<string, Record<string, unknown>> }>) {
      if (st.Sid === 'DenyDecryptExceptNamedRoles') st.Condition = { StringNotLike: { 'aws:PrincipalArn': patterns }, BoolIfExists: st.Condition!.BoolIfExists };
      if (st.Sid === 'AllowReaderRolesDecryptThroughSqsAndStepFunctions') {
        const { 'aws:PrincipalArn': _exact, ...rest } = st.Condition!.StringEquals;
        st.Condition = { ArnLike: { 'aws:PrincipalArn': patterns[1] }, StringEquals: rest };
      }
    }
    const patterned = new IamModel(stack, t);
    const history = viaStates(sm(jobs[0]));
    expect((await m.evaluate(deployLookAlike, 'kms:Decrypt', paramsKey, history)).result).toBe('ExplicitlyDenied');
    expect((await patterned.evaluate(deployLookAlike, 'kms:Decrypt', paramsKey, history)).result).toBe('Allowed');
    expect((await m.evaluate(readerLookAlike, 'kms:Decrypt', paramsKey, history)).result).toBe('ExplicitlyDenied');
    expect((await patterned.evaluate(readerLookAlike, 'kms:Decrypt', paramsKey, history)).result).toBe('Allowed');
  });

  test('the encryption context is evaluated: the writer key grant is for this bucket only', async () => {
    // Same service, same key, only the encryption context differs.
    expect((await m.evaluate(clientDelivery, 'kms:GenerateDataKey', logKey, viaS3(logBucket))).result).toBe('Allowed');
    expect((await m.evaluate(clientDelivery, 'kms:GenerateDataKey', logKey, viaS3(`${logBucket}-other`))).result).toBe('ImplicitlyDenied');
  });

  test('a context key that does not apply to the request is reported, not silently used', async () => {
    const v = await m.evaluate(reprocess, 'sqs:ReceiveMessage', spool, { 'kms:ViaService': service('sqs') });
    expect(v.ignored).toEqual(['kms:ViaService']);
  });
});

describe('break glass (config paramLog.breakGlassRoleArnPatterns)', () => {
  const GLASS = `arn:aws:iam::${ACC}:role/DataProtectionErasure`;
  const bg = synthApp((c) => ({ ...c, paramLog: { ...c.paramLog, breakGlassRoleArnPatterns: [GLASS] } }), 'BreakGlassTest');
  const model = new IamModel(bg.stack, bg.template);
  const bucket = model.value(bg.stack.paramLog.bucket.bucketArn);
  const erasure = model.outsideRole(`arn:aws:iam::${ACC}:role/DataProtectionErasure`, [{ Effect: 'Allow', Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'], Resource: '*' }]);

  test.each(['s3:DeleteObject', 's3:DeleteObjectVersion'])('the break-glass role may %s a record', async (action) => {
    expect((await model.evaluate(erasure, action, object(bucket, `client/${day}/a.gz`))).result).toBe('Allowed');
  });

  test('nobody else may, an administrator included', async () => {
    const a = model.outsideRole(`arn:aws:iam::${ACC}:role/Admin`, ADMINISTRATOR_ACCESS);
    expect((await model.evaluate(a, 's3:DeleteObjectVersion', object(bucket, `client/${day}/a.gz`))).result).toBe('ExplicitlyDenied');
  });

  test('break glass deletes, it does not read', async () => {
    const reading = model.outsideRole(`arn:aws:iam::${ACC}:role/DataProtectionErasure`, ADMINISTRATOR_ACCESS);
    expect((await model.evaluate(reading, 's3:GetObject', object(bucket, `client/${day}/a.gz`))).result).toBe('ExplicitlyDenied');
  });
});

test('a Lambda permission is evaluated as the function\'s resource policy', async () => {
  const t = structuredClone(template);
  const fn = m.logicalId(monitorFn);
  const rule = `arn:aws:events:${REGION}:${ACC}:rule/StatusChange`;
  t.Resources.TestEventsInvoke = { Type: 'AWS::Lambda::Permission', Properties: { Action: 'lambda:InvokeFunction', FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] }, Principal: 'events.amazonaws.com', SourceArn: rule } };
  const withPermission = new IamModel(stack, t);
  const events = (source: string) => withPermission.service('events.amazonaws.com', { account: ACC, arn: source });
  expect((await withPermission.evaluate(events(rule), 'lambda:InvokeFunction', fnArn(monitorFn))).result).toBe('Allowed');
  expect((await withPermission.evaluate(events(`${rule}-other`), 'lambda:InvokeFunction', fnArn(monitorFn))).result).not.toBe('Allowed');
  expect((await m.evaluate(events(rule), 'lambda:InvokeFunction', fnArn(monitorFn))).result).not.toBe('Allowed');
});
