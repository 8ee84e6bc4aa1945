import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { JsonValue } from '../shared/json';
import { caughtStateName, resumeStateName, SPOOL_UNAVAILABLE_CAUGHT_STATE, SpoolUnavailableState, STATE_NAMES } from '../shared/workflow-contract';

/**
 * Reads what the status-change capture needs from an execution's history, newest event first
 * (GetExecutionHistory with `reverseOrder`), and stops as soon as it knows: where the execution
 * was when it ended, what that step was given, and what the workflow itself had already done on
 * its failure path. Pure: pages of events in, facts out.
 *
 * It relies on the state graph of lib/workflow.ts (names in lambdas/shared/workflow-contract.ts):
 * - top-level states are the job's steps, the internal states of {@link STATE_NAMES}, and the
 *   `<Step>-Caught` / `<Step>-Resume` Pass states; every other state name belongs to a state inside
 *   a parallel group or a map item, whose events sit between the enclosing step's `...Entered`
 *   event and its end, so walking back from the end reaches the enclosing step;
 * - SpoolFailure is followed by RecordFailure only when the SendMessage succeeded, and MarkSpooled
 *   / Failed only after that: seeing any of them means the Catch path spooled the task;
 * - SpoolFailure-Caught's output is {failedState, stepInput, caught, spoolError}; every other
 *   `-Caught` Pass outputs {failedState, stepInput, caught};
 * - RecordSpoolUnavailable's Catch puts `recordError` into MarkSpoolUnavailable's input.
 */

/** The part of a job the capture needs: its top-level step names, in order. */
export interface JobShape {
  readonly steps: ReadonlyArray<string>;
}

/**
 * Where the execution was when it ended:
 * - `notStarted`: no state entered yet;
 * - `beforeSteps`: taking the lock, routing, or entering a resumed step;
 * - `inStep`: in a top-level step (or inside its group or map);
 * - `failurePath`: after a step's failure was caught (spooling, recording, ending);
 * - `afterSteps`: every step had succeeded (releasing the lock, recording success).
 */
export type Phase = 'notStarted' | 'beforeSteps' | 'inStep' | 'failurePath' | 'afterSteps';

/** A step failure the workflow caught (a `-Caught` Pass state's output). */
export interface CaughtFailure {
  readonly failedState: string;
  readonly stepInput: JsonValue | null;
  readonly error: string;
  readonly cause: string;
}

/** What the history says. */
export interface HistoryFacts {
  readonly phase: Phase;
  /** The top-level state last entered, or null. */
  readonly lastState: string | null;
  /** The state to resume at (a step name, or AcquireLock / Route before any step), or null. */
  readonly failedState: string | null;
  /** What that step was given (its `previous`); null for the first step or when unknown. */
  readonly stepInput: JsonValue | null;
  /** The latest caught step failure, on the failure path. */
  readonly caught: CaughtFailure | null;
  /** SpoolFailure gave up: the failure it could not spool. */
  readonly spoolUnavailable: SpoolUnavailableState | null;
  /** The Catch path's SendMessage succeeded (the task is in the spool already). */
  readonly spooledByWorkflow: boolean;
  /** The SpoolUnavailable path wrote its worker record (RecordSpoolUnavailable did not fail). */
  readonly spoolUnavailableRecorded: boolean;
  /** RecordSuccess was entered: the workflow writes (or wrote) the Success record itself. */
  readonly successRecordStarted: boolean;
  /** Events read. */
  readonly eventsRead: number;
  /** False when the scan stopped before finding the state the execution was in (history cut short). */
  readonly complete: boolean;
}

type Kind = 'step' | 'before' | 'after' | 'failure';

interface StateEvent {
  readonly entered: boolean;
  readonly name: string;
  /** `input` of an entered event, `output` of an exited one (JSON text). */
  readonly data: string | undefined;
}

function stateEventOf(e: HistoryEvent): StateEvent | null {
  if (e.stateEnteredEventDetails?.name) return { entered: true, name: e.stateEnteredEventDetails.name, data: e.stateEnteredEventDetails.input };
  if (e.stateExitedEventDetails?.name) return { entered: false, name: e.stateExitedEventDetails.name, data: e.stateExitedEventDetails.output };
  return null;
}

function parse(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function jsonOrNull(v: unknown): JsonValue | null {
  return v === undefined ? null : (v as JsonValue);
}

/** A `-Caught` output ({failedState, stepInput, caught: {Error, Cause}}), or null if it is not one. */
function caughtOf(v: unknown): CaughtFailure | null {
  if (!isObject(v) || typeof v.failedState !== 'string' || !isObject(v.caught) || typeof v.caught.Error !== 'string') return null;
  return { failedState: v.failedState, stepInput: jsonOrNull(v.stepInput), error: v.caught.Error, cause: typeof v.caught.Cause === 'string' ? v.caught.Cause : '' };
}

function spoolUnavailableOf(v: unknown): SpoolUnavailableState | null {
  const c = caughtOf(v);
  if (!c || !isObject(v)) return null;
  const se = isObject(v.spoolError) ? v.spoolError : {};
  return {
    failedState: c.failedState,
    stepInput: c.stepInput,
    caught: { Error: c.error, Cause: c.cause },
    spoolError: { Error: typeof se.Error === 'string' ? se.Error : 'States.Unknown', Cause: typeof se.Cause === 'string' ? se.Cause : '' },
  };
}

/**
 * Scans history pages newest first. Feed pages with {@link add} until it returns true (or the
 * history ends), then read {@link facts}.
 */
export class ReverseHistoryScan {
  private readonly kinds = new Map<string, Kind>();
  private readonly stepIndex = new Map<string, number>();
  private readonly resumeOf = new Map<string, string>();
  private lastState: string | null = null;
  private lastInput: unknown = undefined;
  private anchor: { name: string; input: unknown } | null = null;
  private caught: CaughtFailure | null = null;
  private spoolUnavailable: SpoolUnavailableState | null = null;
  private spooledByWorkflow = false;
  private markUnavailableInput: unknown = undefined;
  private markUnavailableSeen = false;
  private successRecordStarted = false;
  private eventsRead = 0;
  private reachedStart = false;

  constructor(job: JobShape) {
    job.steps.forEach((s, i) => {
      this.kinds.set(s, 'step');
      this.stepIndex.set(s, i);
      this.kinds.set(resumeStateName(s), 'before');
      this.resumeOf.set(resumeStateName(s), s);
      this.kinds.set(caughtStateName(s), 'failure');
    });
    for (const n of [STATE_NAMES.acquireLock, STATE_NAMES.route]) this.kinds.set(n, 'before');
    for (const n of [STATE_NAMES.releaseLock, STATE_NAMES.recordSuccess, STATE_NAMES.succeeded]) this.kinds.set(n, 'after');
    for (const n of [
      caughtStateName(STATE_NAMES.acquireLock),
      STATE_NAMES.releaseLockAfterFailure,
      STATE_NAMES.spoolFailure,
      SPOOL_UNAVAILABLE_CAUGHT_STATE,
      STATE_NAMES.recordFailure,
      STATE_NAMES.markSpooled,
      STATE_NAMES.failed,
      STATE_NAMES.recordSpoolUnavailable,
      STATE_NAMES.markSpoolUnavailable,
      STATE_NAMES.spoolUnavailable,
    ]) {
      this.kinds.set(n, 'failure');
    }
  }

  /** True once the state the execution was in is known (everything after it has been seen). */
  get done(): boolean {
    return this.anchor !== null || this.reachedStart;
  }

  /** Adds one page of events, newest first. Returns {@link done}. */
  add(events: ReadonlyArray<HistoryEvent>): boolean {
    for (const e of events) {
      if (this.done) break;
      this.eventsRead++;
      if (e.type === 'ExecutionStarted') {
        this.reachedStart = true;
        break;
      }
      const s = stateEventOf(e);
      if (!s) continue;
      const kind = this.kinds.get(s.name);
      // A state inside a group or a map item: its enclosing step comes further back.
      if (!kind) continue;
      if (s.entered && this.lastState === null) {
        this.lastState = s.name;
        this.lastInput = parse(s.data);
      }
      if (s.entered && (s.name === STATE_NAMES.recordFailure || s.name === STATE_NAMES.markSpooled || s.name === STATE_NAMES.failed)) this.spooledByWorkflow = true;
      if (s.entered && s.name === STATE_NAMES.recordSuccess) this.successRecordStarted = true;
      if (s.entered && s.name === STATE_NAMES.markSpoolUnavailable && !this.markUnavailableSeen) {
        this.markUnavailableSeen = true;
        this.markUnavailableInput = parse(s.data);
      }
      if (!s.entered && s.name === SPOOL_UNAVAILABLE_CAUGHT_STATE && this.spoolUnavailable === null) this.spoolUnavailable = spoolUnavailableOf(parse(s.data));
      if (!s.entered && kind === 'failure' && s.name.endsWith('-Caught') && this.caught === null) this.caught = caughtOf(parse(s.data));
      if (s.entered && (kind === 'step' || kind === 'before')) this.anchor = { name: s.name, input: parse(s.data) };
    }
    return this.done;
  }

  /** What was found so far. */
  facts(): HistoryFacts {
    const kind = this.lastState === null ? null : this.kinds.get(this.lastState)!;
    const phase: Phase = kind === null ? 'notStarted' : kind === 'step' ? 'inStep' : kind === 'before' ? 'beforeSteps' : kind === 'after' ? 'afterSteps' : 'failurePath';
    let failedState: string | null = null;
    let stepInput: JsonValue | null = null;
    const fromStep = (name: string, input: unknown): void => {
      failedState = name;
      // A step is given `$.output` of its state input (lib/workflow.ts); the first step, nothing.
      stepInput = this.stepIndex.get(name) === 0 || !isObject(input) ? null : jsonOrNull(input.output);
    };
    if (phase === 'failurePath' && this.caught) {
      failedState = this.caught.failedState;
      stepInput = this.caught.stepInput;
    } else if (phase === 'beforeSteps' && this.resumeOf.has(this.lastState!)) {
      // Entering a resumed step: it would have been given the envelope's resume input.
      failedState = this.resumeOf.get(this.lastState!)!;
      const resume = isObject(this.lastInput) && isObject(this.lastInput.resume) ? this.lastInput.resume : null;
      stepInput = resume ? jsonOrNull(resume.input) : null;
    } else if (phase === 'afterSteps' || phase === 'beforeSteps') {
      failedState = this.lastState;
    } else if (this.anchor && this.kinds.get(this.anchor.name) === 'step') {
      fromStep(this.anchor.name, this.anchor.input);
    } else if (this.anchor) {
      failedState = this.anchor.name;
    }
    const markInput = this.markUnavailableInput;
    return {
      phase,
      lastState: this.lastState,
      failedState,
      stepInput,
      caught: this.caught,
      spoolUnavailable: this.spoolUnavailable,
      spooledByWorkflow: this.spooledByWorkflow,
      spoolUnavailableRecorded: this.markUnavailableSeen && !(isObject(markInput) && 'recordError' in markInput),
      successRecordStarted: this.successRecordStarted,
      eventsRead: this.eventsRead,
      complete: this.done,
    };
  }
}
