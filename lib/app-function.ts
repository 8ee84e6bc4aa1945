import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { LOG_RETENTION } from './defaults';

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
 */
export class AppFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: AppFunctionProps) {
    const { projectRoot, entry, serviceName, environment, bundling, ...rest } = props;
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
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
        ...bundling,
      },
      environment: {
        POWERTOOLS_SERVICE_NAME: serviceName,
        NODE_OPTIONS: '--enable-source-maps',
        ...environment,
      },
    });
    // cdk-nag findings every function of the app shares (see docs/workflow.md); each is a choice:
    Validations.of(this).acknowledge(
      { id: 'AwsSolutions-L1', reason: 'Node.js 22 is pinned on purpose: the whole app (Powertools, SDK, local runs) is tested on it; moving is a one-line change here.' },
      { id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', reason: 'AWSLambdaBasicExecutionRole only lets the function write its own logs; a hand-written copy would add nothing.' },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray tracing (PutTraceSegments/PutTelemetryRecords) has no resource-level permissions.' },
    );
  }
}
