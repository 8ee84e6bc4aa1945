import { buildGuardrails, GuardrailTargets, SCP_MAX_CHARS } from '../../lib/guardrails';
import { GUARDRAIL_OUTPUTS } from '../../lib/tamper-outputs';
import { CliError } from '../errors';
import { CliIo } from '../io';
import { CommonOptions, Session } from '../session';

/** Options of `scheduled-jobs guardrails`. */
export interface GuardrailsOptions extends CommonOptions {
  /** `json` prints one JSON object (as --json does). */
  readonly output?: 'text' | 'json';
  /** Name of the permissions-boundary managed policy. @default `ScheduledJobsGuardrail-<stage>` */
  readonly boundaryName?: string;
}

/** The stack's resources by CloudFormation type, as exact ARNs. */
async function deployedTargets(session: Session, boundaryPolicyName: string): Promise<GuardrailTargets> {
  const stack = await session.stack();
  const { account } = await session.identity();
  const region = await session.region();
  const output = (key: string) => {
    const v = stack.outputs[key];
    if (v === undefined) throw new CliError(`Stack ${stack.name} has no output ${key}: it was deployed before the guardrails existed`, `Redeploy it: npx cdk deploy -c stage=${session.stage}`);
    return v;
  };
  const deployRoleArn = output(GUARDRAIL_OUTPUTS.deployRoleArn);
  const partition = deployRoleArn.split(':')[1];
  const ids = (type: string) => session.stackResources(type);
  const arn = (service: string, resource: string) => `arn:${partition}:${service}:${region}:${account}:${resource}`;
  return {
    partition,
    account,
    region,
    stackName: stack.name,
    deployRoleArn,
    operatorRoleArns: session.config.operators.roleArns,
    reprocessFunctionArn: output(GUARDRAIL_OUTPUTS.reprocessFunctionArn),
    functionArns: (await ids('AWS::Lambda::Function')).map((n) => arn('lambda', `function:${n}`)),
    // CDK roles have no path; their physical id is the name.
    roleArns: (await ids('AWS::IAM::Role')).map((n) => `arn:${partition}:iam::${account}:role/${n}`),
    keyArns: (await ids('AWS::KMS::Key')).map((id) => arn('kms', `key/${id}`)),
    bucketNames: await ids('AWS::S3::Bucket'),
    // A queue's physical id is its URL; the name is its last segment.
    queueArns: (await ids('AWS::SQS::Queue')).map((url) => arn('sqs', url.split('/').pop() as string)),
    deliveryStreamArns: (await ids('AWS::KinesisFirehose::DeliveryStream')).map((n) => arn('firehose', `deliverystream/${n}`)),
    stateMachineArns: await ids('AWS::StepFunctions::StateMachine'),
    // A topic's physical id is its ARN; a trail's is its name.
    topicArns: await ids('AWS::SNS::Topic'),
    trailArns: (await ids('AWS::CloudTrail::Trail')).map((n) => arn('cloudtrail', `trail/${n}`)),
    boundaryPolicyName,
  };
}

/**
 * `scheduled-jobs guardrails`: prints the SCP and the permissions boundary that deny changes to
 * the stage's functions, roles, keys, buckets, queues, streams and state machines to everyone but
 * the deploy role, and invoking reprocess to everyone but the operator roles (docs/security.md,
 * "Tamper alarms and guardrails"), with the exact ARNs of the deployed stack. Reads only.
 */
export async function guardrails(session: Session, o: GuardrailsOptions, io: CliIo): Promise<number> {
  const boundaryName = o.boundaryName ?? `ScheduledJobsGuardrail-${session.stage}`;
  if (!/^[\w+=,.@-]{1,128}$/.test(boundaryName)) throw new CliError(`--boundary-name "${boundaryName}" is not a policy name`, 'Use letters, digits and +=,.@-_ (1-128).');
  const targets = await deployedTargets(session, boundaryName);
  const g = buildGuardrails(targets);
  const scpChars = JSON.stringify(g.serviceControlPolicy).length;
  const notes = [
    ...(targets.operatorRoleArns.length === 0 ? ['No operators.roleArns in bin/config.ts: the SCP denies invoking reprocess to everyone.'] : []),
    ...(scpChars > SCP_MAX_CHARS ? [`The SCP is ${scpChars} characters, over Organizations' ${SCP_MAX_CHARS}: split its statements over two SCPs.`] : []),
  ];
  if (o.json || o.output === 'json') {
    io.out(`${JSON.stringify({ stack: targets.stackName, deployRoleArn: targets.deployRoleArn, operatorRoleArns: targets.operatorRoleArns, ...g, notes }, null, 2)}\n`);
    return 0;
  }
  const block = (title: string, doc: unknown) => `${title}\n${JSON.stringify(doc, null, 2)}\n\n`;
  io.out(
    `Guardrails of ${targets.stackName} (deploy role ${targets.deployRoleArn}; operators: ${targets.operatorRoleArns.join(', ') || 'none'})\n\n` +
      block(`Service control policy (${scpChars} characters): attach it to the account's OU or the account in AWS Organizations.`, g.serviceControlPolicy) +
      block(`Permissions boundary: create it as managed policy ${g.boundaryPolicyArn} and set it on people's roles.`, g.permissionsBoundary) +
      block('Data-event selector: add it to the trail that logs this account (or set audit.trail in bin/config.ts).', g.dataEventSelector) +
      notes.map((n) => `Note: ${n}\n`).join(''),
  );
  return 0;
}
