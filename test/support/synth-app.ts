import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { fixtureConfig } from './fixture-config';
import { AppConfig, ResolvedAppConfig } from '../../lib/config/types';
import { resolveConfig } from '../../lib/config/validate';
import { ScheduledJobsStack } from '../../lib/scheduled-jobs-stack';
import { CfnTemplate } from '../../local/asl';

/** The shipped app as bin/app.ts builds it, every job deployed, bundling skipped (tests stay fast). */
export interface SynthesizedApp {
  readonly app: App;
  readonly stack: ScheduledJobsStack;
  readonly config: ResolvedAppConfig;
  readonly template: CfnTemplate & { readonly Resources: Record<string, { Type: string; Properties?: Record<string, any>; DependsOn?: unknown }> };
}

/**
 * Synthesizes the test fixture config (optionally changed by `edit`) with every job, in an env-agnostic
 * stack as bin/app.ts makes it without a stage account.
 */
export function synthApp(edit: (c: AppConfig) => AppConfig = (c) => c, stackName = 'AppTest'): SynthesizedApp {
  const config = resolveConfig(edit(fixtureConfig), { allJobs: true });
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, stackName, { config, projectRoot: resolve(__dirname, '..', '..') });
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as SynthesizedApp['template'];
  return { app, stack, config, template };
}
