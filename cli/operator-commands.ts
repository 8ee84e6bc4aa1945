import { Command, Option } from 'commander';
import { importCrontabCommand, ImportCrontabOptions } from './commands/import-crontab';
import { jobs, JobsOptions, pause, PauseOptions, resume } from './commands/jobs';
import { report, ReportOptions } from './commands/report';
import { backfill, BackfillOptions, run as runTickNow, RunOptions } from './commands/run';
import { CliError } from './errors';
import { CliDeps, CliIo } from './io';
import { CommonOptions, Session } from './session';

/** What cli/main.ts hands over to register commands: its common options, its session runner, the exit code. */
export interface CommandKit {
  /** Adds the options every command takes (--stage, --region, --profile, --json). */
  readonly common: (cmd: Command) => Command;
  /** Wraps a command function: a Session for the parsed options, errors printed, the exit code kept. */
  readonly action: <O extends CommonOptions, A extends unknown[]>(fn: (session: Session, o: O, ...args: A) => Promise<number>) => (...args: unknown[]) => Promise<void>;
  /** Sets the exit code of a command that needs no session. */
  readonly setCode: (code: number) => void;
  readonly io: CliIo;
  readonly deps: CliDeps;
}

/**
 * `jobs`, `pause`, `resume`, `run`, `backfill` (a job's schedule operated without a redeploy),
 * `report` and `import-crontab` (docs/operator-cli.md).
 */
export function addOperatorCommands(program: Command, kit: CommandKit): void {
  const { common, action, io, deps } = kit;
  common(
    program
      .command('jobs')
      .description('Every job of the stage: schedule, time zone, paused or not, next run, last tick and its outcome (tick ledger)')
      .addOption(new Option('--output <format>', 'table or json (json = --json)').choices(['table', 'json'])),
  ).action(action<JobsOptions, []>((s, o) => jobs(s, o, io, deps)));

  common(
    program
      .command('pause')
      .argument('<job>', 'job to pause')
      .description('Pause a job without a redeploy: its producer plans nothing at its ticks (recorded "paused" in the tick ledger) until resume; running executions go on')
      .option('--reason <text>', 'why (required): shown in `jobs` to the next person on call'),
  ).action(action<PauseOptions, [string]>((s, o, job) => pause(s, job, o, io, deps)));

  common(
    program
      .command('resume')
      .argument('<job>', 'job to resume')
      .description('Lift a pause; lists the ticks skipped while paused (run them with backfill if they are wanted)')
      .option('--reason <text>', 'optional note stored with the resume'),
  ).action(action<PauseOptions, [string]>((s, o, job) => resume(s, job, o, io, deps)));

  common(
    program
      .command('run')
      .argument('<job>', 'job to run')
      .description('Run one tick of a job now (this minute), through the reprocess function like tick rerun; the tick ledger dedupes it')
      .option('--dry-run', 'say what would be sent; invoke nothing')
      .option('--ignore-pause', 'run it although the job is paused'),
  ).action(action<RunOptions, [string]>((s, o, job) => runTickNow(s, job, o, io, deps)));

  common(
    program
      .command('backfill')
      .argument('<job>', 'job whose missed ticks to run')
      .description('Run the ticks the schedule would have fired in a range, oldest first, paced; ticks already planned are skipped (tick ledger). Dry run first')
      .option('--from <time>', 'first tick time, included: ISO with a zone (2026-11-25T02:00+09:00), a tick (20261124T1700Z), an age (6h) (required)')
      .option('--to <time>', 'last tick time, included; same forms, or now (required)')
      .option('--dry-run', 'list the ticks and what the ledger says of each; run nothing')
      .option('--max <n>', `run at most n ticks (1-1000); without it a range of more than 50 ticks is refused`)
      .option('--pace <seconds>', 'seconds between two ticks (0-300, default 2)')
      .option('--ignore-pause', 'run them although the job is paused'),
  ).action(action<BackfillOptions, [string]>((s, o, job) => backfill(s, job, o, io, deps)));

  common(
    program
      .command('report')
      .description('The offline report\'s HTML page from the live system: saved Athena queries (daily counts, lost tasks), CloudWatch alarms, error queues, jobs')
      .option('--since <time>', 'start of the period: an age (24h, 7d) or an ISO time with a zone (default 24h; at most 31 days)')
      .option('--out <file>', 'write the HTML here and print a summary (default: the HTML to stdout)')
      .option('--athena-timeout <seconds>', 'give up on each Athena query after this long (default 120)'),
  ).action(action<ReportOptions, []>((s, o) => report(s, o, io, deps)));

  // Reads a file only: no stage, no session, no AWS.
  program
    .command('import-crontab')
    .argument('<file>', 'a crontab file (crontab -l > my.crontab), or - for stdin')
    .description('Turn crontab lines into job config entries (AWS cron, day-of-week mapped, time zone from CRON_TZ/TZ lines); a warning for each line it cannot map')
    .addOption(new Option('--output <format>', 'ts (entries to paste into bin/config.ts) or json').choices(['ts', 'json']))
    .option('--json', 'same as --output json')
    .option('--system', 'a system crontab (/etc/crontab, /etc/cron.d): a user column follows the five schedule fields')
    .action((file: string, o: ImportCrontabOptions) => {
      try {
        kit.setCode(importCrontabCommand(file, o, io));
      } catch (e) {
        if (!(e instanceof CliError)) throw e;
        io.err(`Error: ${e.message}\n${e.hint ? `${e.hint}\n` : ''}`);
        kit.setCode(e.exitCode);
      }
    });
}
