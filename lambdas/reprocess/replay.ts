import { TaskEnvelope, withoutResume } from '../shared/envelope';
import { JsonValue } from '../shared/json';
import { jsonBytes, MAX_STEP_OUTPUT_BYTES } from '../shared/limits';
import { STATE_NAMES } from '../shared/workflow-contract';
import { JobRules } from './env';
import { ReplayFrom } from './payload';

/**
 * The input of a replay, and where it enters the workflow. Pure, so the local-engine test runs the
 * synthesized definition with exactly what reprocess would start.
 *
 * A resumed replay is the envelope (without any earlier resume point), attempt + 1, and
 * `resume: {step, input}`: the workflow's Route choice (lib/workflow.ts) enters that top-level
 * step through its `<Step>-Resume` state with `input` as the step's `previous`. Unlike Step
 * Functions' own redrive, this works across a deploy of a new definition: the new execution runs
 * the definition deployed now, and only needs the step to still exist by name.
 */

/** What a replay is built from (the parts of a spool message that matter here). */
export interface ReplaySource {
  readonly kind: 'ExecutionFailed' | 'ExecutionEnded' | 'StartFailed';
  /** The failed execution's input, as spooled. */
  readonly envelope: TaskEnvelope;
  /** The state that failed, if the message names one. */
  readonly failedState: string | null;
  /** What the failed step was given; `undefined` when the message has no such field (older writers). */
  readonly stepInput: JsonValue | undefined;
}

/** The replay's input and entry. */
export interface ReplayInput {
  readonly input: TaskEnvelope;
  /** The step the replay enters at, or null when it runs from the first step. */
  readonly resumeAt: string | null;
  /** Why a replay asked to resume starts over instead (listed in the summary), or null. */
  readonly fallback: string | null;
  /**
   * The failed step, when it is no longer a top-level step of the job (renamed or removed by a
   * deploy): such a replay is not started (neither resumed, nor silently started over) unless the
   * operator asks for `from: "start"`. Null otherwise.
   */
  readonly unknownResumeStep?: string | null;
}

/** Failed states where resuming makes no sense: there is nothing before them to skip. */
const NOTHING_BEFORE: ReadonlySet<string> = new Set([STATE_NAMES.acquireLock, STATE_NAMES.route, 'Producer']);

/**
 * Builds the replay input of one message.
 * - StartFailed: the input unchanged (same attempt, so the same execution name: a start that in
 *   fact went through is not run twice).
 * - ExecutionFailed / ExecutionEnded: attempt + 1 in both modes (one name per message, so a resume
 *   and a start-over of the same message can never both run); `from: "failed-step"` adds the
 *   resume point when the failed state is a top-level step of the job other than the first.
 */
export function replayInput(src: ReplaySource, from: ReplayFrom, job: Pick<JobRules, 'steps'>): ReplayInput {
  if (src.kind === 'StartFailed') return { input: src.envelope, resumeAt: src.envelope.resume?.step ?? null, fallback: null };
  const base: TaskEnvelope = { ...withoutResume(src.envelope), attempt: src.envelope.attempt + 1 };
  const over = (fallback: string | null): ReplayInput => ({ input: base, resumeAt: null, fallback });
  // The operator asked for every step to run again: earlier step records are not reused (envelope.ts).
  if (from === 'start') return { input: { ...base, rerunFrom: base.attempt }, resumeAt: null, fallback: null };
  const step = src.failedState;
  if (step === null || step === '') return over('the message does not name the failed step: started over');
  if (NOTHING_BEFORE.has(step) || step === job.steps[0]) return over(null);
  // Renamed or removed by a deploy: starting over would run again every step before it (their side
  // effects too, where a step's record has expired or its name changed); the operator decides.
  if (!job.steps.includes(step)) return { input: base, resumeAt: null, fallback: null, unknownResumeStep: step };
  if (src.stepInput === undefined) return over(`the message does not carry what step "${step}" was given (spooled by an older version): started over`);
  // The capture writes null for a step input it could not read; the Catch path always writes the
  // real value (a step's output, which is never absent).
  if (src.stepInput === null && src.kind === 'ExecutionEnded') return over(`what step "${step}" was given is unknown: started over`);
  // A step's input is the previous step's output, which the step wrapper keeps within this budget;
  // a larger one (a hand-edited message) could make the resumed execution exceed the state quota.
  const size = jsonBytes(src.stepInput);
  if (size > MAX_STEP_OUTPUT_BYTES) return over(`what step "${step}" was given (${size} bytes) exceeds the ${MAX_STEP_OUTPUT_BYTES}-byte step budget: started over`);
  return { input: { ...base, resume: { step, input: src.stepInput } }, resumeAt: step, fallback: null };
}

/** The top-level steps a replay runs: from its resume step on, or all of them. */
export function stepsToRun(job: Pick<JobRules, 'steps'>, resumeAt: string | null): ReadonlyArray<string> {
  if (resumeAt === null) return job.steps;
  const i = job.steps.indexOf(resumeAt);
  return i < 0 ? job.steps : job.steps.slice(i);
}

/** Dependencies of every step a replay would run (nested steps of groups and maps included). */
export function dependenciesToRun(job: JobRules, resumeAt: string | null): string[] {
  const out = new Set<string>();
  for (const step of stepsToRun(job, resumeAt)) for (const d of job.dependencies[step] ?? []) out.add(d);
  return [...out];
}
