import { OPERATOR_OUTPUTS } from '../../lib/operator-outputs';
import { UsageError } from '../errors';
import { localTime, table } from '../format';
import { dependencyNamed, holdStates, HoldState, writeSwitch } from '../holds';
import { CliDeps, CliIo } from '../io';
import { CommonOptions, Session } from '../session';

export interface HoldOptions extends CommonOptions {
  readonly reason?: string;
}

/** The hold table: one row per dependency. */
export function formatHolds(states: ReadonlyArray<HoldState>, timeZone: string): string {
  return table(
    ['DEPENDENCY', 'HELD', 'SWITCH', 'BY', 'SINCE', 'REASON', 'WINDOW NOW', 'NEXT WINDOW'],
    states.map((s) => [
      s.dependency,
      s.heldBy === 'window' ? 'yes (planned window)' : s.heldBy === 'operator' ? 'yes (operator)' : 'no',
      s.switch.on ? 'on' : 'off',
      s.switch.by,
      s.switch.since ? localTime(new Date(s.switch.since), timeZone) : null,
      s.switch.reason,
      s.window ? `until ${localTime(new Date(s.window.endsAt), timeZone)}` : null,
      s.nextWindow ? `${localTime(new Date(s.nextWindow.startsAt), timeZone)} (${s.nextWindow.durationMinutes} min)` : null,
    ]),
  );
}

async function show(session: Session, o: HoldOptions, io: CliIo, deps: CliDeps, only?: string): Promise<HoldState[]> {
  const stack = await session.stack();
  const all = session.config.dependencies.filter((d) => only === undefined || d.name === only);
  const states = await holdStates(session.clients.dynamo, stack.need(OPERATOR_OUTPUTS.coordinationTableName), all, session.config.timeZone, deps.now());
  if (o.json) io.out(`${JSON.stringify({ stack: stack.name, holds: states }, null, 2)}\n`);
  else io.out(formatHolds(states, session.config.timeZone));
  return states;
}

/** `hold` (list) and `hold <dependency> --reason <why>` (set the operator's switch on). */
export async function hold(session: Session, dependency: string | undefined, o: HoldOptions, io: CliIo, deps: CliDeps): Promise<number> {
  if (dependency === undefined) {
    if (session.config.dependencies.length === 0) dependencyNamed([], '');
    await show(session, o, io, deps);
    return 0;
  }
  dependencyNamed(session.config.dependencies, dependency);
  if (!o.reason || o.reason.trim() === '') {
    throw new UsageError('A hold needs a reason (--reason "..."), so the next person on call knows why', `e.g. scheduled-jobs hold ${dependency} --reason "API down, INC-1234"`);
  }
  const [stack, who] = [await session.stack(), await session.identity()];
  await writeSwitch(session.clients.dynamo, stack.need(OPERATOR_OUTPUTS.coordinationTableName), dependency, true, { by: who.arn, reason: o.reason.trim(), now: deps.now() });
  if (!o.json) {
    io.err(
      `${dependency} is on hold. Steps that call it now spool their tasks with DependencyOnHold (within a few seconds: steps cache the switch), and reprocess does not replay into it. Release with: scheduled-jobs unhold ${dependency}\n`,
    );
  }
  await show(session, o, io, deps, dependency);
  return 0;
}

/** `unhold <dependency>`: sets the operator's switch off (a planned window still holds until it ends). */
export async function unhold(session: Session, dependency: string, o: HoldOptions, io: CliIo, deps: CliDeps): Promise<number> {
  dependencyNamed(session.config.dependencies, dependency);
  const [stack, who] = [await session.stack(), await session.identity()];
  await writeSwitch(session.clients.dynamo, stack.need(OPERATOR_OUTPUTS.coordinationTableName), dependency, false, { by: who.arn, reason: o.reason?.trim() || null, now: deps.now() });
  const [state] = await show(session, o, io, deps, dependency);
  if (!o.json) {
    io.err(
      state.heldBy === 'window'
        ? `The switch is off, but ${dependency} stays held by its planned window until ${localTime(new Date(state.window!.endsAt), session.config.timeZone)}.\n`
        : `${dependency} is released. Replay what was spooled while it was held: scheduled-jobs replay --error-type DependencyOnHold --dry-run, then without --dry-run.\n`,
    );
  }
  return 0;
}
