import { CfnElement } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { HIGH_VOLUME_PARENT_TIMEOUT } from '../lib/high-volume-workflow';
import { CAPTURE_ENV } from '../lambdas/execution-capture/logic';
import { RECONCILE_ENV } from '../lambdas/reconciler/env';
import { PARENT_ROUTES_ENV } from '../lambdas/batch-starter/env';
import { HIGH_VOLUME_STARTERS } from '../lambdas/batch-starter/logic';
import { HIGH_VOLUME_JOB, withHighVolumeJob } from './support/fixture-config';
import { IamModel, Principal } from './support/iam-harness';
import { synthApp } from './support/synth-app';

/**
 * The app with a high-volume job (the fixture's example-api steps, short timeouts) as the stack
 * deploys it: the parent beside the standard workflow, the high-volume tick queue and starter,
 * the capture and reconciler over the parent, alarms, cdk-nag; IAM evaluated by a real policy
 * engine (test/support/iam-harness.ts) against the synthesized policies.
 */

const { stack, template, config } = synthApp(withHighVolumeJob, 'HighVolumeStack');
const m = new IamModel(stack, template);
const arn = (token: string) => m.value(token);
const HV = HIGH_VOLUME_JOB;
const STD = 'example-api';
const hv = stack.highVolume.get(HV)!;
const hvStarter = stack.highVolumeStarter!;
const parent = arn(hv.stateMachine.stateMachineArn);
const standardOf = (job: string) => arn(stack.workflows.get(job)!.stateMachine.stateMachineArn);
const executionOf = (machine: string, name: string) => `${machine.replace(':stateMachine:', ':execution:')}:${name}`;
const hvQueue = arn(hvStarter.tickQueue.queueArn);
const hvDeadLetters = arn(hvStarter.deadLetterQueue.queueArn);
const paramsKey = arn(stack.paramsKey.key.keyArn);
const spool = arn(stack.spool.queue.queueArn);
const viaSqs = (queue: string) => ({ 'kms:ViaService': `sqs.${m.region}.amazonaws.com`, 'kms:EncryptionContext:aws:sqs:arn': queue });
const role = (fn: lambda.IFunction) => m.role(fn.role! as never);
const batchStarter = role(hvStarter.function);
const standardStarter = role(stack.tickStarter.function);
const producerOf = (job: string) => role(stack.producers.get(job)!.function);
const parentRole = m.role(hv.stateMachine.role as never);
const capture = role(stack.executionCapture.function);
const reconciler = role(stack.reconciler.function);
const sweeper = role(stack.sweeper.function);
const stranger = m.outsideRole(`arn:aws:iam::${m.account}:role/Stranger`, [{ Effect: 'Allow', Action: ['sqs:*', 'kms:*', 'states:*'], Resource: '*' }], 'stranger with sqs:*, kms:*, states:*');
const envOf = (fn: lambda.IFunction) => (template.Resources[stack.resolve((fn.node.defaultChild as CfnElement).logicalId)].Properties!.Environment.Variables as Record<string, unknown>);
const resolvedEnv = (fn: lambda.IFunction, name: string) => m.value(envOf(fn)[name] as never);

describe('what the stack deploys for a high-volume job', () => {
  it('the parent (Standard, a Distributed Map of Express children) beside the job\'s standard state machine, kept for replays', () => {
    expect(config.jobs.find((j) => j.name === HV)!.executionMode).toBe('high-volume');
    expect(stack.highVolume.size).toBe(1);
    expect(stack.highVolume.has(STD)).toBe(false);
    expect(parent).not.toBe(standardOf(HV));
    const sm = template.Resources[stack.resolve((hv.stateMachine.node.defaultChild as CfnElement).logicalId)];
    expect(sm.Type).toBe('AWS::StepFunctions::StateMachine');
    expect(sm.Properties!.StateMachineType).toBe('STANDARD');
    const definition = JSON.stringify(stack.resolve(sm.Properties!.DefinitionString));
    expect(definition).toContain('DISTRIBUTED');
    expect(definition).toContain('EXPRESS');
    expect(definition).toContain(`"TimeoutSeconds\\":${HIGH_VOLUME_PARENT_TIMEOUT.toSeconds()}`);
  });

  it('routes the high-volume job\'s ticks to its own queue and batch starters, the others to the standard starter', () => {
    expect(resolvedEnv(stack.producers.get(HV)!.function, 'TICK_QUEUE_URL')).toBe(arn(hvStarter.tickQueue.queueUrl));
    expect(resolvedEnv(stack.producers.get(STD)!.function, 'TICK_QUEUE_URL')).toBe(arn(stack.tickStarter.tickQueue.queueUrl));
    // The messages name the standard state machine (replays go there); the route maps it to the parent.
    expect(resolvedEnv(stack.producers.get(HV)!.function, 'STATE_MACHINE_ARN')).toBe(standardOf(HV));
    // The producer spreads a tick's batches over the starters of its own queue.
    expect(envOf(stack.producers.get(HV)!.function).STARTER_CONCURRENCY).toBe(String(HIGH_VOLUME_STARTERS));
    expect(envOf(stack.producers.get(STD)!.function).STARTER_CONCURRENCY).toBe(String(stack.tickStarter.plan.starterConcurrency));
    expect(JSON.parse(resolvedEnv(hvStarter.function, PARENT_ROUTES_ENV))).toEqual({ [standardOf(HV)]: parent });
    expect(envOf(hvStarter.function).TICK_QUEUE_URL).toBeDefined();
    expect(resolvedEnv(hvStarter.function, 'TICK_QUEUE_URL')).toBe(arn(hvStarter.tickQueue.queueUrl));
    const esm = template.Resources[stack.resolve((hvStarter.eventSource.node.defaultChild as CfnElement).logicalId)].Properties!;
    expect(arn(esm.EventSourceArn)).toBe(hvQueue);
    expect(esm.ScalingConfig).toEqual({ MaximumConcurrency: HIGH_VOLUME_STARTERS });
    expect(esm.BatchSize).toBe(1);
    const fnProps = template.Resources[stack.resolve((hvStarter.function.node.defaultChild as CfnElement).logicalId)].Properties!;
    expect(fnProps.Description).toMatch(/parent executions/);
  });

  it('alarms on the new queue and functions like on the existing ones', () => {
    expect(hvStarter.deadLetterAlarm).toBeDefined();
    expect(hvStarter.backlogAlarm).toBeDefined();
    expect(stack.sweeper.oldestFailureAlarms.has('HighVolumeTickDeadLetters')).toBe(true);
    const watched = new Set(stack.functionAlarms.watched.map((w) => w.fn));
    expect(watched.has(hvStarter.function as never)).toBe(true);
    expect(watched.has(hv.batchRecordFunction)).toBe(true);
    const alarmOn = (queue: string) =>
      Object.values(template.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && JSON.stringify(r.Properties!.Dimensions ?? []).includes(stack.resolve((hvStarter.deadLetterQueue.node.defaultChild as CfnElement).logicalId)) && r.Properties!.MetricName === queue);
    expect(alarmOn('ApproximateNumberOfMessagesVisible').length).toBeGreaterThanOrEqual(1);
  });

  it('the capture and the reconciler cover the parent: its status-change events, its executions, and where its items replay', () => {
    const rule = template.Resources[stack.resolve((stack.executionCapture.rule.node.defaultChild as CfnElement).logicalId)].Properties!;
    const machines = (rule.EventPattern.detail.stateMachineArn as unknown[]).map((a) => m.value(a as never));
    expect(machines).toEqual(expect.arrayContaining([parent, standardOf(HV), standardOf(STD)]));
    expect(JSON.parse(resolvedEnv(stack.executionCapture.function, CAPTURE_ENV.replayStateMachines))).toEqual({ [HV]: standardOf(HV) });
    expect(JSON.parse(resolvedEnv(stack.reconciler.function, CAPTURE_ENV.replayStateMachines))).toEqual({ [HV]: standardOf(HV) });
    const listed = JSON.parse(resolvedEnv(stack.reconciler.function, RECONCILE_ENV.machines)) as Array<{ arn: string; maxRunSeconds: number }>;
    expect(listed).toContainEqual({ arn: parent, maxRunSeconds: HIGH_VOLUME_PARENT_TIMEOUT.toSeconds() });
  });

  it('is cdk-nag clean (every finding acknowledged where it is, with a reason)', () => {
    const report = new AwsSolutionsChecks().validateScope(stack) as unknown as { violations: Array<{ ruleName: string; violatingResources: Array<{ constructPath: string }> }> };
    expect(report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`))).toEqual([]);
  });
});

describe('least privilege of the new grants (policies evaluated by the IAM engine)', () => {
  const parentExecution = executionOf(parent, `${HV}-20260101T0000Z-b0-t0-a1`);
  const allowed: Array<[string, Principal, string, string, Record<string, string>?]> = [
    ['the batch starter starts a parent', batchStarter, 'states:StartExecution', parent],
    ['the batch starter receives from its tick queue', batchStarter, 'sqs:ReceiveMessage', hvQueue],
    ['the batch starter hands a batch\'s rest on to its tick queue', batchStarter, 'sqs:SendMessage', hvQueue],
    ['the batch starter spools a StartFailed task', batchStarter, 'sqs:SendMessage', spool],
    ['the batch starter redrives its dead letters', batchStarter, 'sqs:ReceiveMessage', hvDeadLetters],
    ['the high-volume producer writes a batch to its tick queue', producerOf(HV), 'sqs:SendMessage', hvQueue],
    ['the high-volume producer encrypts for it', producerOf(HV), 'kms:GenerateDataKey', paramsKey, viaSqs(hvQueue)],
    ['the sweeper keeps the high-volume dead letters', sweeper, 'sqs:ReceiveMessage', hvDeadLetters],
    ['the parent starts its Express children (its own state machine, Distributed Map)', parentRole, 'states:StartExecution', parent],
    ['the parent describes a child execution', parentRole, 'states:DescribeExecution', `${parentExecution}/Tasks:0123`],
    ['the parent stops a child execution', parentRole, 'states:StopExecution', `${parentExecution}/Tasks:0123`],
    ['the parent spools an item', parentRole, 'sqs:SendMessage', spool],
    ['the capture describes an ended parent', capture, 'states:DescribeExecution', parentExecution],
    ['the capture reads a parent\'s history', capture, 'states:GetExecutionHistory', parentExecution],
    ['the reconciler lists the parent\'s executions', reconciler, 'states:ListExecutions', parent],
  ];
  const denied: Array<[string, Principal, string, string, boolean, Record<string, string>?]> = [
    ['the batch starter starts the job\'s standard state machine', batchStarter, 'states:StartExecution', standardOf(HV), false],
    ['the batch starter starts another job\'s state machine', batchStarter, 'states:StartExecution', standardOf(STD), false],
    ['the standard starter starts a parent', standardStarter, 'states:StartExecution', parent, false],
    ['the parent starts the job\'s standard state machine', parentRole, 'states:StartExecution', standardOf(HV), false],
    ['the standard job\'s producer writes to the high-volume tick queue', producerOf(STD), 'sqs:SendMessage', hvQueue, true],
    ['the standard starter reads the high-volume tick queue', standardStarter, 'sqs:ReceiveMessage', hvQueue, true],
    ['a stranger with sqs:* reads the high-volume tick queue', stranger, 'sqs:ReceiveMessage', hvQueue, true],
    ['a stranger with sqs:* writes to the high-volume dead letters', stranger, 'sqs:SendMessage', hvDeadLetters, true],
  ];
  // Plain loops: it.each would take a missing context for jest's `done` callback.
  for (const [name, principal, action, resource, context] of allowed) {
    it(`allowed: ${name}`, async () => {
      const v = await m.evaluate(principal, action, resource, context ?? {});
      expect([v.result, v.ignored]).toEqual(['Allowed', []]);
    });
  }
  for (const [name, principal, action, resource, explicit, context] of denied) {
    it(`denied: ${name}${explicit ? ' (by the lock)' : ''}`, async () => {
      const v = await m.evaluate(principal, action, resource, context ?? {});
      expect(v.result).toBe(explicit ? 'ExplicitlyDenied' : 'ImplicitlyDenied');
    });
  }
});
