/**
 * Imported first by the offline run's CLI: with `--canary`, the handlers' Powertools logger and
 * metrics (built once, when the first module importing them loads, reading the environment then;
 * see ./quiet.ts) must be built with every log level and the metrics on, so that all they could
 * write is written and searched (./canary.ts).
 */
import { CANARY_PROCESS_ENV } from './canary';

if (process.argv.some((a) => a === '--canary' || a.startsWith('--canary='))) Object.assign(process.env, CANARY_PROCESS_ENV);
export {};
