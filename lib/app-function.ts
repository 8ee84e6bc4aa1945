import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { LOG_RETENTION } from './defaults';
import { acknowledgeOn, acknowledgeOnPolicyOf } from './nag';

export interface AppFunctionProps extends Omit<NodejsFunctionProps, 'entry'> {
  /** Absolute path of the project root. */
  readonly projectRoot: string;
  /** Handler file relative to the project root, exporting `handler`. */
  readonly entry: string;
  /** Powertools service name (appears in every log line). */
  readonly serviceName: string;
}

/**
 * Every Lambda of the app: Node.js 22 on arm64, bundled by esbuild (no Docker), its own log
 * group with retention, JSON logs, X-Ray tracing. `environment` is merged with the app's, never
 * replaced.
 *
 * Each function has its own role that may write logs to its own log group only: the AWS managed
 * AWSLambdaBasicExecutionRole would let it create and write any log group of the account.
 */
export class AppFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: AppFunctionProps) {
    const { projectRoot, entry, serviceName, environment, bundling, ...rest } = props;
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role =
      rest.role ??
      new iam.Role(scope, `${id}ServiceRole`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `Execution role of ${scope.node.path}/${id}`,
      });
    // The group exists (created above), so the function never needs logs:CreateLogGroup.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    super(scope, id, {
      role,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(30),
      tracing: lambda.Tracing.ACTIVE,
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup,
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      ...rest,
      entry: join(projectRoot, entry),
      bundling: {
        minify: true,
        sourceMap: true,
        target: 'node22',
        format: OutputFormat.CJS,
        // esbuild lists every bundle's files and sizes at its default level: synth prints only problems.
        logLevel: LogLevel.WARNING,
        ...bundling,
      },
      environment: {
        POWERTOOLS_SERVICE_NAME: serviceName,
        NODE_OPTIONS: '--enable-source-maps',
        ...environment,
      },
    });
    // Findings every function of the app shares, each on the resource it is made on:
    acknowledgeOn(this, { id: 'AwsSolutions-L1', reason: 'Node.js 22 is pinned on purpose: the whole app (Powertools, SDK, local runs) is tested on it; moving is a one-line change here.' });
    acknowledgeOnPolicyOf(role, { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which have no resource-level permissions (test/iam-star.test.ts holds every Resource "*" statement to such actions).' });
  }
}
