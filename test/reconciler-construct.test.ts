import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RECONCILE_ENV } from '../lambdas/reconciler/env';
import { fixtureConfig } from './support/fixture-config';
import { synthApp } from './support/synth-app';

/** The reconciler's wiring: schedule, least privilege, the capture's settings, alarms. */
const { stack } = synthApp(() => fixtureConfig, 'ReconcilerConstruct');
const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true });
const id = (c: { node: { defaultChild?: unknown } }) => Stack.of(stack).getLogicalId(c.node.defaultChild as never);
const fnId = id(stack.reconciler.function);
const roleId = id(stack.reconciler.function.role! as never);
const smIds = () => [...stack.workflows.values()].map((w) => id(w.stateMachine));

function statements(): Array<{ Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> }> {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}
const actionsOf = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

test('a rule runs it every 15 minutes; one run at a time; a failed run is not retried (the next starts from the same watermark)', () => {
  template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)', Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } })] });
  template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 1, Environment: { Variables: Match.objectLike({ JOB_STEPS: Match.anyValue(), SPOOL_QUEUE_URL: Match.anyValue(), COORDINATION_TABLE: Match.anyValue() }) } });
  template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: fnId }, MaximumRetryAttempts: 0 });
});

test('it lists every job state machine with its execution timeout', () => {
  const fn = template.findResources('AWS::Lambda::Function')[fnId];
  const env = Stack.of(stack).resolve(fn.Properties.Environment.Variables[RECONCILE_ENV.machines]);
  const text = JSON.stringify(env);
  for (const sm of smIds()) expect(text).toContain(sm);
  expect(text).toMatch(/maxRunSeconds/);
});

test('least privilege: ListExecutions on the job state machines only; Describe/GetExecutionHistory on their executions; marks and watermarks by leading key', () => {
  const st = statements();
  const list = st.filter((s) => actionsOf(s).includes('states:ListExecutions'));
  expect(list).toHaveLength(1);
  expect(list[0].Resource).toEqual(smIds().map((sm) => ({ Ref: sm })));
  const describe = st.find((s) => actionsOf(s).includes('states:DescribeExecution'))!;
  expect(actionsOf(describe).sort()).toEqual(['states:DescribeExecution', 'states:GetExecutionHistory']);
  expect(JSON.stringify(describe.Resource)).toContain(':execution:');
  const keys = st.flatMap((s) => (s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] as string[] | undefined) ?? []);
  expect(keys.sort()).toEqual(['capture#*', 'lock#*', 'reconcile#*']);
  for (const s of st) expect(actionsOf(s).some((a) => a === '*' || a === 'states:*' || a === 'dynamodb:*')).toBe(false);
});

test('alarms: not running for three intervals (missing data breaches), and an execution given up on', () => {
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'Invocations',
    Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
    ComparisonOperator: 'LessThanThreshold',
    Threshold: 1,
    Period: 3600,
    TreatMissingData: 'breaching',
    AlarmActions: Match.anyValue(),
  });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ReconcileGaveUp', Namespace: 'ScheduledJobs', AlarmActions: Match.anyValue() });
  // Its errors are watched with every other function's.
  expect(stack.functionAlarms.watched.some((w) => w.fn === stack.reconciler.function && w.errors === 'any')).toBe(true);
});
