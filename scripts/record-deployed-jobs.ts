/**
 * After a successful `cdk deploy -c stage=<stage>`: records which jobs the stage now runs, and which
 * are retiring since when, in deployed-jobs.json (commit it). Synth reads it to refuse removing a job
 * that has not retired first (lib/config/deployed-jobs.ts, docs/deploy.md "Retiring a job").
 *   npm run jobs:record -- --stage prod
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { appConfig } from '../bin/config';
import { DEPLOYED_JOBS_FILE, parseDeployedJobs, recordDeploy } from '../lib/config/deployed-jobs';
import { resolveConfig } from '../lib/config/validate';

const root = resolve(__dirname, '..');
const i = process.argv.indexOf('--stage');
const stage = i >= 0 ? process.argv[i + 1] : undefined;
const path = join(root, DEPLOYED_JOBS_FILE);
const previous = existsSync(path) ? parseDeployedJobs(readFileSync(path, 'utf8')) : {};
// Resolved as deployed (same stage switches), without the removal check: the removal is deployed now.
const config = resolveConfig(appConfig, { stage, fileExists: (p) => existsSync(join(root, p)) });
const next = recordDeploy(previous, config.stage, config.jobs, new Date());
writeFileSync(path, `${JSON.stringify(next, null, 2)}\n`);
const entry = next[config.stage];
console.log(`${DEPLOYED_JOBS_FILE}: stage ${config.stage}: ${Object.entries(entry).map(([j, d]) => `${j} ${d.state}`).join(', ')}. Commit it.`);
