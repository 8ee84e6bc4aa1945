import { Command } from 'commander';
import { CliError, EXIT_FAILED } from '../errors';
import { CliDeps, CliIo } from '../io';
import { localJob, LocalOptions } from './local';
import { newJob, NewJobOptions } from './new-job';

/**
 * The job author's commands: `new-job` and `local`. They work on this project's files and the
 * offline stand-ins, never on AWS: no stage, region or credentials (so no Session).
 */
export function addAuthorCommands(program: Command, io: CliIo, deps: CliDeps, setCode: (code: number) => void, projectRoot?: string): void {
  const guarded = (fn: () => Promise<number>) => async () => {
    try {
      setCode(await fn());
    } catch (e) {
      if (e instanceof CliError) {
        io.err(`Error: ${e.message}\n${e.hint ? `${e.hint}\n` : ''}`);
        setCode(e.exitCode);
      } else {
        io.err(`Error: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
        setCode(EXIT_FAILED);
      }
    }
  };
  program
    .command('new-job')
    .argument('<name>', 'job name: lowercase letters, digits and dashes, e.g. invoice-reminder')
    .description('Scaffold a job: lambdas/jobs/<name>/ (producer, two steps, params schema, typed errors, offline stubs), test/jobs/<name>.test.ts, and its entry in bin/config.ts')
    .option('--dry-run', 'print what would be written; write nothing')
    .action((name: string, o: NewJobOptions) => guarded(() => newJob(name, o, io, { config: deps.config, projectRoot }))());
  program
    .command('local')
    .argument('<job>', 'a job of bin/config.ts')
    .description('Run one tick of a job offline (local stand-ins, the job\'s stubs.ts, no AWS) and print what became of its tasks; exit 1 if the tick failed or a task was lost')
    .option('--tasks <n>', 'tasks the producer makes (sets TASKS_PER_TICK; example-api: EXAMPLE_TASKS_PER_TICK)')
    .option('--out <dir>', 'keep the run\'s folder (parameter log, report) here; default: a temporary folder, removed')
    .option('--verbose', 'show the handlers\' own logs')
    .option('--json', 'print JSON for scripts')
    .action((job: string, o: LocalOptions) => guarded(() => localJob(job, o, io, { config: deps.config, projectRoot }))());
}
