import { resolve } from 'node:path';
import { AppConfig } from '../../lib/config/types';
import { CliIo } from '../io';

/** The stage name that means "a local deployment of a sandbox stage, in this process". */
export const LOCAL_STAGE = 'local';

/** True for `prove --stage local` when the config declares no stage of that name (then it is a real stage). */
export function isLocalProve(argv: ReadonlyArray<string>, config: AppConfig): boolean {
  if (argv[0] !== 'prove') return false;
  const i = argv.findIndex((a) => a === '--stage' || a.startsWith('--stage='));
  const stage = i < 0 ? undefined : argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
  return stage === LOCAL_STAGE && !(LOCAL_STAGE in (config.stages ?? {}));
}

/**
 * `npx scheduled-jobs prove --stage local`: starts a local deployment of the config as a sandbox
 * stage (local/live-stage.ts: the synthesized stack with the proof job, executions run by the
 * synthesized definitions with the real handlers) and runs the SAME prover against it through
 * AWS_ENDPOINT_URL_* (the prover has no local branch). Polls fast and skips the Firehose settle
 * unless told otherwise: the stand-ins answer in milliseconds.
 */
export async function proveLocally(argv: ReadonlyArray<string>, io: CliIo, config: AppConfig, run: (argv: ReadonlyArray<string>, config: AppConfig) => Promise<number>): Promise<number> {
  const local: AppConfig = { ...config, stages: { ...(config.stages ?? {}), [LOCAL_STAGE]: { sandbox: true } } };
  // Loaded only here (it synthesizes the stack): a require, which tsx's CommonJS hook resolves for .ts.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startLiveStage } = require('../../local/live-stage') as typeof import('../../local/live-stage');
  if (!argv.includes('--json')) io.out('Starting a local deployment of a sandbox stage (local/live-stage.ts) ...\n');
  const stage = await startLiveStage({ config: local, stage: LOCAL_STAGE, projectRoot: resolve(__dirname, '..', '..') });
  const defaults: string[] = [];
  if (!argv.some((a) => a.startsWith('--poll-ms'))) defaults.push('--poll-ms', '50');
  if (!argv.some((a) => a.startsWith('--wait-seconds'))) defaults.push('--wait-seconds', '20');
  if (!argv.some((a) => a.startsWith('--settle-seconds'))) defaults.push('--settle-seconds', '0');
  try {
    return await run([...argv, ...defaults], local);
  } finally {
    await stage.stop();
  }
}
