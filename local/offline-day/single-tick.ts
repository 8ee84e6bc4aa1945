import { AppConfig } from '../../lib/config/types';

/**
 * The config with only `jobs` (and the stages' entries for them), for an offline run of some jobs
 * (`npx scheduled-jobs local <job>`). Unknown names are refused with the configured ones.
 */
export function restrictToJobs(config: AppConfig, jobs: ReadonlyArray<string> | undefined): AppConfig {
  if (jobs === undefined) return config;
  const names = config.jobs.map((j) => j.name);
  const unknown = jobs.filter((j) => !names.includes(j));
  if (unknown.length > 0) throw new Error(`Unknown job ${unknown.map((j) => `"${j}"`).join(', ')}: the config has ${names.length > 0 ? names.join(', ') : 'no jobs'}`);
  const keep = new Set(jobs);
  const stages = Object.fromEntries(
    Object.entries(config.stages ?? {}).map(([name, stage]) => [
      name,
      stage.jobs ? { ...stage, jobs: Object.fromEntries(Object.entries(stage.jobs).filter(([j]) => keep.has(j))) } : stage,
    ]),
  );
  return { ...config, jobs: config.jobs.filter((j) => keep.has(j.name)), stages: config.stages ? (stages as AppConfig['stages']) : config.stages };
}
