import { AppConfig, lambdaStepsOf, ResolvedAppConfig } from '../../lib/config/types';
import type { FaultPlan } from '../fake-external-api';

/** Which dependencies the run holds, and the config with the maintenance window as planned windows. */

/** The dependencies of the steps that call the example's API (their environment has EXAMPLE_API_URL). */
export function apiDependencies(config: ResolvedAppConfig): string[] {
  const out = new Set<string>();
  for (const job of config.jobs) {
    for (const s of lambdaStepsOf(job)) if (s.dependsOn && s.environment && 'EXAMPLE_API_URL' in s.environment) out.add(s.dependsOn);
  }
  return [...out];
}

/**
 * The config with the plan's maintenance window declared as a planned hold window of each of
 * `dependencies` (`--planned-windows`): `cron(m h * * ? *)` in the app time zone, for its length.
 */
export function withPlannedWindows(config: AppConfig, dependencies: ReadonlyArray<string>, plan: FaultPlan): AppConfig {
  if (!plan.maintenance) return config;
  const { startMinute, endMinute } = plan.maintenance;
  const window = { cron: `cron(${startMinute % 60} ${Math.floor(startMinute / 60)} * * ? *)`, durationMinutes: endMinute - startMinute };
  const deps = { ...(config.dependencies ?? {}) };
  for (const d of dependencies) deps[d] = { ...deps[d], windows: [...(deps[d]?.windows ?? []), window] };
  return { ...config, dependencies: deps };
}
