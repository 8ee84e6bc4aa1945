/**
 * What one execution of an ASL definition is billed for, counted by walking the definition along
 * one path: the state transitions (AWS Step Functions pricing: every state entered is a transition,
 * Choice, Pass, Succeed and Fail included, and every retry is one more) and the Task calls made.
 *
 * The walk is static: it follows `Next` from `StartAt`, so it answers for a path the caller
 * chooses (the success path, a failure at one state, a replay resumed at a step), not for what a
 * given input would do at run time. Choice rules are evaluated against the execution input, which
 * is right for a Choice entered before any state changes the data (the workflow's `Route`); a rule
 * the evaluator does not know fails the walk instead of guessing.
 */

/** A state of a definition, as far as the walk reads it. */
export interface AslState {
  readonly Type: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Resource?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly Retry?: ReadonlyArray<{ readonly ErrorEquals: ReadonlyArray<string>; readonly MaxAttempts?: number }>;
  readonly Catch?: ReadonlyArray<{ readonly ErrorEquals: ReadonlyArray<string>; readonly Next: string }>;
  readonly Choices?: ReadonlyArray<ChoiceRule>;
  readonly Default?: string;
  readonly Branches?: ReadonlyArray<AslScope>;
  readonly ItemProcessor?: AslScope;
  readonly Iterator?: AslScope;
  readonly [k: string]: unknown;
}

/** A definition, or a Parallel branch / Map item processor. */
export interface AslScope {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
}

/** A Choice rule (the subset of the ASL comparison operators the walk evaluates). */
export interface ChoiceRule {
  readonly Variable?: string;
  readonly Next?: string;
  readonly And?: ReadonlyArray<ChoiceRule>;
  readonly Or?: ReadonlyArray<ChoiceRule>;
  readonly Not?: ChoiceRule;
  readonly [operator: string]: unknown;
}

/** Which path to walk. */
export interface WalkScenario {
  /** The execution input (Choice rules read it). */
  readonly input: unknown;
  /** Items a Map state iterates over (by Map state name). */
  readonly mapItems: (mapState: string) => number;
  /**
   * The state that fails, after `retries` retries (each one more transition and, for a Lambda
   * Task, one more invocation). Its own Catch, or the Catch of the Map/Parallel around it, takes
   * the failure. In a Map only one item fails; the other items and branches are counted as run
   * to the end (Step Functions stops them: an upper bound).
   */
  readonly fail?: { readonly state: string; readonly retries: number };
}

/** What one execution along the path is billed for. */
export interface PathCounts {
  /** Billed state transitions. */
  transitions: number;
  /** Lambda invocations by function (the last segment of the `FunctionName` ARN, or the name). */
  readonly lambda: Map<string, number>;
  /** Other Task integrations by Resource, e.g. `arn:aws:states:::sqs:sendMessage`. */
  readonly tasks: Map<string, number>;
  /** State names entered, in order (nested scopes flattened, repeated per item), for reading and tests. */
  readonly entered: string[];
  /** How the execution ended. */
  status: 'SUCCEEDED' | 'FAILED';
}

/** The optimized Lambda integration (`arn:<partition>:states:::lambda:invoke`). */
const LAMBDA_INVOKE = /^arn:aws[\w-]*:states:::lambda:invoke$/;

/** Hard stop for a definition that loops (the walk follows no loops on purpose). */
const MAX_STEPS = 100_000;

function pathValue(input: unknown, path: string): { present: boolean; value?: unknown } {
  if (path === '$') return { present: true, value: input };
  if (!path.startsWith('$.')) throw new Error(`Choice variable "${path}": only $.a.b paths on the execution input are evaluated`);
  let v: unknown = input;
  for (const key of path.slice(2).split('.')) {
    if (v === null || typeof v !== 'object' || !(key in (v as Record<string, unknown>))) return { present: false };
    v = (v as Record<string, unknown>)[key];
  }
  return { present: true, value: v };
}

/** True when `rule` matches `input` (And, Or, Not, IsPresent, IsNull, StringEquals, BooleanEquals, NumericEquals). */
export function choiceMatches(rule: ChoiceRule, input: unknown): boolean {
  if (rule.And) return rule.And.every((r) => choiceMatches(r, input));
  if (rule.Or) return rule.Or.some((r) => choiceMatches(r, input));
  if (rule.Not) return !choiceMatches(rule.Not, input);
  if (typeof rule.Variable !== 'string') throw new Error(`Choice rule without Variable: ${JSON.stringify(rule)}`);
  const { present, value } = pathValue(input, rule.Variable);
  if ('IsPresent' in rule) return present === rule.IsPresent;
  if (!present) {
    // Step Functions fails the execution (States.Runtime) on a comparison with a missing path.
    throw new Error(`Choice rule ${JSON.stringify(rule)}: ${rule.Variable} is absent from the input (Step Functions would fail the run)`);
  }
  if ('IsNull' in rule) return (value === null) === rule.IsNull;
  if ('StringEquals' in rule) return value === rule.StringEquals;
  if ('BooleanEquals' in rule) return value === rule.BooleanEquals;
  if ('NumericEquals' in rule) return value === rule.NumericEquals;
  const ops = Object.keys(rule).filter((k) => k !== 'Variable' && k !== 'Next');
  throw new Error(`Choice operator ${ops.join(', ')} is not evaluated by the cost walk; extend choiceMatches`);
}

function functionOf(state: AslState, name: string): string {
  const fn = state.Parameters?.FunctionName;
  if (typeof fn !== 'string') throw new Error(`Lambda Task ${name}: FunctionName must be resolved to a string (resolve the template's references first)`);
  return fn.split(':').pop() ?? fn;
}

function catcherOf(state: AslState): string | undefined {
  // A failure after retries is whatever error the step raised: any catcher that takes States.ALL
  // or States.TaskFailed takes it (the workflow has exactly one, States.ALL).
  return state.Catch?.find((c) => c.ErrorEquals.includes('States.ALL') || c.ErrorEquals.includes('States.TaskFailed'))?.Next;
}

/** Counts one execution of `definition` along the path the scenario chooses. */
export function walkExecution(definition: AslScope, scenario: WalkScenario): PathCounts {
  const counts: PathCounts = { transitions: 0, lambda: new Map(), tasks: new Map(), entered: [], status: 'SUCCEEDED' };
  let steps = 0;
  const add = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n);

  /** Walks one scope; returns 'ok', or 'failed' when the failure leaves the scope uncaught. */
  const walk = (scope: AslScope, failHere: boolean): 'ok' | 'failed' => {
    let name: string | undefined = scope.StartAt;
    while (name !== undefined) {
      if (++steps > MAX_STEPS) throw new Error(`walk passed ${MAX_STEPS} states: the definition loops`);
      const state: AslState | undefined = scope.States[name];
      if (!state) throw new Error(`state "${name}" is not in its scope`);
      counts.transitions++;
      counts.entered.push(name);
      const failing = failHere && scenario.fail?.state === name;
      let failed = false;
      switch (state.Type) {
        case 'Task': {
          const attempts = 1 + (failing ? scenario.fail!.retries : 0);
          counts.transitions += attempts - 1;
          if (LAMBDA_INVOKE.test(String(state.Resource))) add(counts.lambda, functionOf(state, name), attempts);
          else add(counts.tasks, String(state.Resource), attempts);
          failed = failing;
          break;
        }
        case 'Parallel':
          for (const branch of state.Branches ?? []) if (walk(branch, failHere) === 'failed') failed = true;
          failed ||= failing;
          break;
        case 'Map': {
          const processor = state.ItemProcessor ?? state.Iterator;
          if (!processor) throw new Error(`Map ${name} has no ItemProcessor`);
          const items = scenario.mapItems(name);
          if (!Number.isInteger(items) || items < 0) throw new Error(`Map ${name}: items must be a whole number >= 0, got ${items}`);
          // One item carries the failure (if it is inside); the others run to the end.
          for (let i = 0; i < items; i++) if (walk(processor, failHere && i === 0) === 'failed') failed = true;
          failed ||= failing;
          break;
        }
        case 'Choice': {
          if (failing) throw new Error(`state ${name} is a Choice: it cannot fail; name a Task, Parallel or Map`);
          const rule: ChoiceRule | undefined = (state.Choices ?? []).find((r) => choiceMatches(r, scenario.input));
          const next: string | undefined = rule?.Next ?? state.Default;
          if (!next) throw new Error(`Choice ${name}: no rule matches and there is no Default (States.NoChoiceMatched)`);
          name = next;
          continue;
        }
        case 'Pass':
        case 'Wait':
          if (failing) throw new Error(`state ${name} is a ${state.Type}: it cannot fail; name a Task, Parallel or Map`);
          break;
        case 'Succeed':
          return 'ok';
        case 'Fail':
          counts.status = 'FAILED';
          return 'ok';
        default:
          throw new Error(`state ${name}: type ${state.Type} is not walked`);
      }
      if (failed) {
        const catcher = catcherOf(state);
        if (!catcher) return 'failed';
        name = catcher;
        continue;
      }
      name = state.End ? undefined : state.Next;
      if (name === undefined && !state.End) throw new Error(`state ${String(counts.entered.at(-1))} has neither Next nor End`);
    }
    return 'ok';
  };

  if (walk(definition, true) === 'failed') counts.status = 'FAILED';
  if (scenario.fail && !counts.entered.includes(scenario.fail.state)) {
    throw new Error(`the failing state "${scenario.fail.state}" is not on the walked path (entered: ${counts.entered.join(' > ')})`);
  }
  return counts;
}
