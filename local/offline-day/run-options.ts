import type { AppConfig } from '../../lib/config/types';
import type { FaultPlan, FaultProfile } from '../fake-external-api';
import type { AwsFaultRates, AwsWorld } from './aws-faults';

/** The offline run's options and its time-compression settings (docs/offline-day.md, "Simulated time"). */

/**
 * Every Task's TimeoutSeconds is capped at this in the offline run (time compression, like the
 * skipped retry waits): the engine really waits, and the example's 20 s CallApi timeout would cost
 * 20 s of wall time per timeout. Local handlers answer in milliseconds, so only the fake API's slow
 * reply (one second past it) reaches it.
 */
export const LOCAL_STEP_TIMEOUT_SECONDS = 3;

/**
 * Every execution's own TimeoutSeconds (derived per job, lib/config/timeouts.ts: 29 min for the API
 * example) is capped at this, for the same reason. Twice the step cap: no execution of the day comes
 * near it (the slowest, a step timeout, ends in ~3 s), while the stalling API's retries (2.5 s a
 * call, five calls allowed) outlast it, so that execution ends TIMED_OUT as it would in AWS.
 */
export const LOCAL_EXECUTION_TIMEOUT_SECONDS = 2 * LOCAL_STEP_TIMEOUT_SECONDS;

/**
 * Executions run at once in this one process. More only queues them behind each other on the event
 * loop: with 64, a big tick's (2,000 tasks) steps waited long enough that a few passed the
 * compressed 3 s step timeout. The engine's time is wall time, so crowding is time compression's risk.
 */
export const EXECUTION_CONCURRENCY = 16;

/** A stalling API's answer, ms: under the step timeout (the step retries), three of them past the execution timeout. */
export const LOCAL_STALL_MS = 2_500;

/**
 * Who holds the API's dependency during its maintenance window:
 * - `operator` (default): the simulated operator sets the hold switch when the window starts and
 *   releases it when it ends, then replays (`--hold` is the default; see docs/offline-day.md);
 * - `planned-windows`: the window is declared in the config (`dependencies.<name>.windows`) and
 *   there is NO operator at all: nothing is held, stopped, replayed or re-run by hand;
 * - `none`: no hold; the operator replays after the window, as before holds existed (the calls into
 *   the window and their retries show what a hold saves).
 */
export type HoldMode = 'operator' | 'planned-windows' | 'none';
export const HOLD_MODES: ReadonlyArray<HoldMode> = ['operator', 'planned-windows', 'none'];

/** Options of one offline run (the CLI's flags). */
export interface OfflineRunOptions {
  /** Project root (handler entries in the config are relative to it). */
  readonly projectRoot: string;
  /** Output folder: the parameter log (`client/`, `worker/`), report.json, report.html. */
  readonly outDir: string;
  /** Simulated days. @default 1 */
  readonly days?: number;
  /** Simulated hours instead of whole days (tests, `--hours`). */
  readonly hours?: number;
  /** First simulated day, `yyyy-MM-dd` in the app time zone. @default 2026-11-25 (fixed: same seed, same run) */
  readonly startDay?: string;
  readonly seed?: number;
  readonly faults?: FaultProfile;
  /** Changes to the profile's plan (tests move the faults into a short window). */
  readonly faultPlanOverrides?: Partial<Omit<FaultPlan, 'profile' | 'seed'>>;
  /** Who holds the API during its maintenance window. @default 'operator' */
  readonly hold?: HoldMode;
  /** Tasks per tick of the example job (its EXAMPLE_TASKS_PER_TICK knob), and TASKS_PER_TICK of every producer (new-job's knob). @default the job's own default */
  readonly tasksPerTick?: number;
  /** Delete the output folder before the run. @default true */
  readonly clean?: boolean;
  /** The app config. @default bin/config.ts */
  readonly appConfig?: AppConfig;
  /** Progress lines. @default none */
  readonly progress?: (line: string) => void;
  /** Keep the handlers' own (Powertools) logs. @default false (errors only) */
  readonly verbose?: boolean;
  /**
   * One tick of each job (of `jobs` only, when given) at the start of the period, and nothing else:
   * no schedule, no operator (`npx scheduled-jobs local <job>`, test/user-config.test.ts).
   * @default every tick of every job's schedule
   */
  readonly singleTick?: { readonly jobs?: ReadonlyArray<string> };
  /** Canary text: put into every task's params, searched for in every sink outside the lock (./canary.ts). */
  readonly canary?: string;
  /** How much kinder than AWS the stand-ins are (aws-faults.ts). @default 'kind' (the CLI's default is 'default') */
  readonly awsFaults?: AwsWorld;
  /** Run the app's reconciler when it has one (reconciler-hook.ts). @default true */
  readonly reconciler?: boolean;
  /**
   * Whether the fake API applies an order once per `idempotency-key` (answering a repeat with the
   * recorded result), as order and payment APIs that take such keys do. @default true
   */
  readonly apiHonoursIdempotencyKeys?: boolean;
  /**
   * Run the high-volume parent's post-map step (`SpoolFailedChildren`) in the Map Run stand-in
   * (map-run.ts). False ends the parent after its map, as a deployment without that step would
   * (tests: a killed child's items are then lost). @default true
   */
  readonly postMapStep?: boolean;
  /** Changes to the world's rates, and a drop aimed at chosen status changes (tests). */
  readonly awsFaultOverrides?: Partial<AwsFaultRates> & { readonly dropEventWhen?: (key: string) => boolean };
}
