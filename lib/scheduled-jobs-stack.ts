import { Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ResolvedAppConfig } from './config/types';

export interface ScheduledJobsStackProps extends StackProps {
  /** The validated config (bin/config.ts through resolveConfig). */
  readonly config: ResolvedAppConfig;
  /** Absolute path of the project root; handler entries in the config are relative to it. */
  readonly projectRoot: string;
}

/** Composes the app's constructs. No resources are defined here directly. */
export class ScheduledJobsStack extends Stack {
  constructor(scope: Construct, id: string, props: ScheduledJobsStackProps) {
    super(scope, id, props);
  }
}
