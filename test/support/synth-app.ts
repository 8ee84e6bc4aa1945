import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { fixtureConfig } from './fixture-config';
import { AppConfig, ResolvedAppConfig } from '../../lib/config/types';
import { resolveConfig } from '../../lib/config/validate';
import { ScheduledJobsStack } from '../../lib/scheduled-jobs-stack';
import { CfnTemplate } from '../../local/asl';

/** The app as bin/app.ts builds it, every job deployed (or one stage's), bundling skipped (tests stay fast). */
export interface SynthesizedApp {
  readonly app: App;
  readonly stack: ScheduledJobsStack;
  readonly config: ResolvedAppConfig;
  readonly template: CfnTemplate & { readonly Resources: Record<string, { Type: string; Properties?: Record<string, any>; DependsOn?: unknown }> };
}

/** Which config `synthApp` builds, and how much of it. */
export interface SynthOptions {
  /** The config to start from. @default the test fixture config */
  readonly base?: AppConfig;
  /** Synthesize this stage (its deployed jobs only, as `cdk synth -c stage=`). @default every job, no stage */
  readonly stage?: string;
}

/**
 * Synthesizes the fixture config (or `options.base`, optionally changed by `edit`) with every job,
 * in an env-agnostic stack as bin/app.ts makes it without a stage account.
 */
export function synthApp(edit: (c: AppConfig) => AppConfig = (c) => c, stackName = 'AppTest', options: SynthOptions = {}): SynthesizedApp {
  const base = edit(options.base ?? fixtureConfig);
  const config = options.stage === undefined ? resolveConfig(base, { allJobs: true }) : resolveConfig(base, { stage: options.stage });
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, stackName, { config, projectRoot: resolve(__dirname, '..', '..') });
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as SynthesizedApp['template'];
  return { app, stack, config, template };
}
