#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { appConfig } from './config';
import { DEPLOYED_JOBS_FILE, parseDeployedJobs } from '../lib/config/deployed-jobs';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { muteBundlingProgress } from './quiet-synth';

muteBundlingProgress();

const projectRoot = resolve(__dirname, '..');
const app = new App();
// `cdk deploy -c stage=prod`; without it, the config's defaultStage.
const stage = app.node.tryGetContext('stage') as string | undefined;
// What earlier deploys recorded (npm run jobs:record): a deployed job is removed only after retiring.
const recordPath = join(projectRoot, DEPLOYED_JOBS_FILE);
const deployedJobs = existsSync(recordPath) ? parseDeployedJobs(readFileSync(recordPath, 'utf8')) : undefined;
const config = resolveConfig(appConfig, { stage, fileExists: (p) => existsSync(join(projectRoot, p)), deployedJobs });

// cdk-nag's AWS Solutions rules run at synth; each construct acknowledges its own justified findings.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
new ScheduledJobsStack(app, `ScheduledJobs-${config.stage}`, {
  config,
  projectRoot,
  description: `Scheduled jobs (${config.stage}): producers, retrying workflow, error spool, reprocess, parameter log`,
  env: { account: config.account ?? process.env.CDK_DEFAULT_ACCOUNT, region: config.region ?? process.env.CDK_DEFAULT_REGION },
});
