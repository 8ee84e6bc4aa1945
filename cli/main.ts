import { Command, CommanderError, Option } from 'commander';
import { appConfig } from '../bin/config';
import { guardrails, GuardrailsOptions } from './commands/guardrails';
import { addAuthorCommands } from './commands/author';
import { hold, HoldOptions, unhold } from './commands/hold';
import { addOperatorCommands } from './operator-commands';
import { prove, ProveOptions } from './commands/prove';
import { isLocalProve, proveLocally } from './prove/local';
import { replay, ReplayOptions, tickRerun, TickRerunOptions } from './commands/replay';
import { status, StatusOptions } from './commands/status';
import { task, TaskOptions } from './commands/task';
import { CliError, EXIT_FAILED, EXIT_USAGE } from './errors';
import { CliDeps, CliIo, STAGE_ENV } from './io';
import { CommonOptions, Session } from './session';

/**
 * The operator CLI: `npx scheduled-jobs <command>` (package.json "bin"). Each command talks to the
 * stage's stack (`ScheduledJobs-<stage>`) with the AWS SDK's default credential chain; tables for
 * people, `--json` for scripts. See docs/operator-cli.md.
 */

/** Adds the options every command takes, so each command's --help lists them. */
function common(cmd: Command): Command {
  return cmd
    .option('--stage <stage>', `stage of bin/config.ts (stack ScheduledJobs-<stage>); default: $${STAGE_ENV}, else the config's defaultStage`)
    .option('--region <region>', 'AWS region; default: the stage\'s region in bin/config.ts, else AWS_REGION / the profile\'s region')
    .option('--profile <profile>', 'AWS shared-config profile; default: AWS_PROFILE, else the default credential chain')
    .option('--json', 'print JSON for scripts instead of tables');
}

/** Builds the program; `run` executes one command with the parsed options. */
export function buildProgram(io: CliIo, run: (fn: (session: Session) => Promise<number>, options: CommonOptions) => Promise<number>, deps: CliDeps): { program: Command; result: () => number } {
  let code = 0;
  const program = new Command('scheduled-jobs')
    .description('Operate the scheduled jobs: replay the error spool, hold dependencies, follow one task, see the status; pause, run and backfill a job; import a crontab; report on the live system; scaffold a job and run it offline; print the guardrails.')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  const action =
    <O extends CommonOptions, A extends unknown[]>(fn: (session: Session, o: O, ...args: A) => Promise<number>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const o = cmd.opts() as O;
      code = await run((session) => fn(session, o, ...(args.slice(0, -2) as A)), o);
    };

  common(
    program
      .command('replay')
      .description(
        'Replay the spool, replay or drop quarantined messages, re-run or drop failed invocations, all through the reprocess Lambda (or --dry-run to see what it would do); prints its summary',
      )
      .addOption(new Option('--source <queue>', 'what to act on (default spool)').choices(['spool', 'quarantine', 'failed-invocations']))
      .option('--dry-run', 'look only: nothing is started, invoked, deleted or moved')
      .option('--job <job>', 'only this job\'s failures (failed invocations: its producer\'s records)')
      .option('--error-type <name>', 'only failures with this error name, e.g. ExternalApiUnavailableError, States.Timeout')
      .option('--task-id <ids...>', 'only these task ids (repeat, or separate with commas)')
      .option('--message-id <ids...>', 'quarantine, failed invocations: only these messages (a dry run lists their ids)')
      .option('--function <labels...>', 'failed invocations: only these functions, e.g. producer:example-api, executionCapture, sweeper, lostTaskMonitor')
      .option('--older-than <age|time>', 'only failures spooled before: an age (30m, 2h, 7d) or an ISO time with a zone')
      .option('--newer-than <age|time>', 'only failures spooled after: an age (30m, 2h, 7d) or an ISO time with a zone')
      .option('--max <n>', 'messages to handle in this run, 1-10000 (default: the function\'s, reprocess.defaultMax)')
      .option('--concurrency <n>', 'starts (invokes) in flight at once, 1-50 (default 10)')
      .addOption(new Option('--from <where>', 'where a replayed task resumes: its failed step, or the first step').choices(['failed-step', 'start']))
      .option('--drop', 'quarantine, failed invocations: delete the selected messages (after reading them) instead of replaying')
      .option('--force', 'quarantine, with --task-id: replay those tasks although they passed spool.maxReplays or their tick is over 42 days old; failed invocations, with --message-id: re-run those producer ticks although over 42 days old'),
  ).action(action<ReplayOptions, []>((s, o) => replay(s, o, io)));

  const tick = program.command('tick').description('One tick of a job: run it again, or re-plan it (through the reprocess Lambda, which invokes the job\'s producer)');
  common(
    tick
      .command('rerun')
      .description('Run a tick again through its producer: a planned tick plans nothing again unless --replan; a half-planned one resumes')
      .option('--job <job>', 'the job whose producer plans the tick (required)')
      .option('--tick <tick>', 'the tick, as in task ids (20261125T1800Z, UTC) or an ISO time with a zone (required)')
      .option('--replan', 'plan it again although it is planned: every task of the tick is attempted once more (started ones answer "already exists"), specs rejected before start if valid now')
      .option('--dry-run', 'say what would be sent; invoke nothing')
      .option('--ignore-pause', 'plan it although the job is paused (scheduled-jobs pause)')
      .option('--force', 'run it although the tick is more than 42 days old (check what it already did first: its tasks could start again)'),
  ).action(action<TickRerunOptions, []>((s, o) => tickRerun(s, o, io)));

  common(
    program
      .command('hold')
      .argument('[dependency]', 'dependency to hold (declared in bin/config.ts dependencies); none: list every hold')
      .description('Put a dependency on hold (its steps spool their tasks instead of calling it), or list the holds and planned windows')
      .option('--reason <text>', 'why (required to hold): shown to the next person on call'),
  ).action(action<HoldOptions, [string | undefined]>((s, o, dependency) => hold(s, dependency, o, io, deps)));

  common(
    program
      .command('unhold')
      .argument('<dependency>', 'dependency to release')
      .description('Release an operator hold (a planned window still holds until it ends)')
      .option('--reason <text>', 'optional note stored with the release'),
  ).action(action<HoldOptions, [string]>((s, o, dependency) => unhold(s, dependency, o, io, deps)));

  common(
    program
      .command('task')
      .argument('<task-id>', 'task id, e.g. example-api-20261125T0305Z-order-42')
      .description('The whole story of one task: param-log records (Athena), executions with status and failed step, spool or quarantine')
      .option('--days <n>', 'days of the parameter log to search from the task\'s tick day (default 15)')
      .option('--first-day <yyyy-MM-dd>', 'first day to search (app time zone); default: the tick\'s day')
      .option('--last-day <yyyy-MM-dd>', 'last day to search; default: first day + --days - 1')
      .option('--athena-timeout <seconds>', 'give up on the Athena query after this long (default 120)')
      .option('--scan <n>', 'quarantined messages to look at, at most (default 1000)')
      .option('--show-params', 'also print the task params (personal data: only when you need them)'),
  ).action(action<TaskOptions, [string]>((s, o, taskId) => task(s, taskId, o, io, deps)));

  common(
    program
      .command('status')
      .description('Spool, quarantine and failed invocations by job and error with the oldest age, holds, alarms in ALARM')
      .option('--scan <n>', 'messages to look at per queue, at most (default 1000)')
      .option('--no-peek', 'counts only: read no message (no grouping, no ages)'),
  ).action(action<StatusOptions, []>((s, o) => status(s, o, io, deps)));

  common(
    program
      .command('guardrails')
      .description('Print the SCP and permissions boundary that deny changing the app to all but the deploy role, and invoking reprocess to all but operators')
      .addOption(new Option('--output <format>', 'text or json (as --json)').choices(['text', 'json']))
      .option('--boundary-name <name>', 'name of the permissions-boundary managed policy (default ScheduledJobsGuardrail-<stage>)'),
  ).action(action<GuardrailsOptions, []>((s, o) => guardrails(s, o, io)));
  addAuthorCommands(program, io, deps, (c) => (code = c), deps.projectRoot);
  addOperatorCommands(program, { common, action, io, deps, setCode: (c) => void (code = c) });

  common(
    program
      .command('prove')
      .description('Drive the proof job of a sandbox stage (sandbox: true) through the guarantees and print PASS/FAIL with evidence (docs/prove.md)')
      .option('--scenario <names...>', 'only these scenarios (default: all)')
      .option('--wait-seconds <n>', 'longest wait for one execution or message (default 180)')
      .option('--poll-ms <n>', 'between polls (default 1000)')
      .option('--settle-seconds <n>', 'wait before the lost-task query (default: paramLog.bufferSeconds + 60)')
      .option('--html <file>', 'also write the report as one HTML page'),
  ).action(action<ProveOptions, []>((s, o) => prove(s, o, io, deps)));

  return { program, result: () => code };
}

/**
 * Runs the CLI on `argv` (without `node` and the script) and returns the exit code. Errors are
 * printed as "Error: ..." plus what to do, never as a stack trace.
 */
export async function runCli(argv: ReadonlyArray<string>, io: CliIo, deps: Partial<CliDeps> = {}): Promise<number> {
  const full: CliDeps = {
    config: deps.config ?? appConfig,
    now: deps.now ?? (() => new Date()),
    sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    env: deps.env ?? process.env,
    projectRoot: deps.projectRoot,
  };
  const run = async (fn: (session: Session) => Promise<number>, options: CommonOptions): Promise<number> => {
    let session: Session | undefined;
    try {
      session = new Session(full.config, options, full.env);
      return await fn(session);
    } catch (e) {
      if (e instanceof CliError) {
        io.err(`Error: ${e.message}\n${e.hint ? `${e.hint}\n` : ''}`);
        return e.exitCode;
      }
      io.err(`Error: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
      return EXIT_FAILED;
    } finally {
      session?.close();
    }
  };
  const { program, result } = buildProgram(io, run, full);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : EXIT_USAGE;
    throw e;
  }
  return result();
}

/** Entry point of cli/bin.js. */
export async function main(): Promise<void> {
  const io: CliIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };
  const argv = process.argv.slice(2);
  // `prove --stage local`: the same prover against a local deployment started in this process (docs/prove.md).
  const code = isLocalProve(argv, appConfig) ? await proveLocally(argv, io, appConfig, (a, config) => runCli(a, io, { config })) : await runCli(argv, io);
  process.exitCode = code;
}
