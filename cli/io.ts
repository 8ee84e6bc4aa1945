import { AppConfig } from '../lib/config/types';

/** Where a CLI run writes (stdout for results, stderr for progress and errors). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** What a CLI run depends on besides AWS: injected so tests control the config, the clock and waits. */
export interface CliDeps {
  /** The app config (bin/config.ts). */
  readonly config: AppConfig;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  /** The process environment (SCHEDULED_JOBS_STAGE). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The project the author commands (new-job, local) work in. @default this CLI's project */
  readonly projectRoot?: string;
}

/** The environment variable that names the stage when --stage is not given (set it once per shell). */
export const STAGE_ENV = 'SCHEDULED_JOBS_STAGE';
