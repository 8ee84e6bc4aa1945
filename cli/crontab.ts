import { parseSchedule } from '../lambdas/shared/schedule';

/**
 * Crontab lines -> job config entries (`npx scheduled-jobs import-crontab <file>`). Pure: text in,
 * entries and warnings out. What changes between the two syntaxes (crontab(5), EventBridge
 * Scheduler "cron-based schedules" in the Scheduler user guide):
 *
 * - AWS cron has six fields (a year at the end) and exactly one of day-of-month and day-of-week
 *   must be `?`. Crontab runs a line when EITHER day field matches if both are restricted (and
 *   when both match if one starts with `*`); AWS can say only one of them, so such a line is not
 *   mapped: a warning gives the two schedules to use as two jobs instead.
 * - Day-of-week: crontab Sunday is 0 or 7, Monday 1; AWS Sunday is 1, Saturday 7. Days are emitted
 *   as names (MON-FRI), which read the same in both.
 * - Steps: `*` + `/n` becomes `<first>/n`; a stepped range (`10-40/10`) is written out as a list.
 * - `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually` become their
 *   five-field equivalents; `@reboot` has no schedule equivalent.
 * - `CRON_TZ=` / `TZ=` lines set the time zone of the lines after them (the job's `timeZone`).
 *   Other environment lines (PATH, MAILTO, SHELL) are not carried over: a warning says so.
 *
 * Every emitted expression is checked with the project's own parser (lambdas/shared/schedule.ts),
 * the one synth runs, so an entry that is emitted is one synth accepts.
 */

/** One job made from a crontab line. */
export interface ImportedJob {
  /** Derived from the command: lowercase letters, digits and dashes (bin/config.ts job names), unique in the file. */
  readonly name: string;
  /** `cron(m h dom mon dow year)` for EventBridge Scheduler. */
  readonly schedule: string;
  /** From the last CRON_TZ=/TZ= line before it; null: none (the app's time zone applies). */
  readonly timeZone: string | null;
  /** The preceding comment line, else "From crontab line N". */
  readonly description: string;
  /** The command the line ran (to port into the job's producer and steps). */
  readonly command: string;
  /** 1-based line number in the file. */
  readonly line: number;
  /** The crontab schedule as written (`0 2 * * *`, `@daily`). */
  readonly cron: string;
}

/** A line that could not be mapped, or was mapped with a caveat. */
export interface ImportWarning {
  readonly line: number;
  readonly text: string;
  readonly message: string;
}

export interface ImportResult {
  readonly jobs: ImportedJob[];
  readonly warnings: ImportWarning[];
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

class MapError extends Error {}

interface Field {
  readonly label: string;
  readonly min: number;
  readonly max: number;
  /** Names in order from `min` (crontab allows them in month and day-of-week). */
  readonly names?: ReadonlyArray<string>;
}
const MINUTE: Field = { label: 'minute', min: 0, max: 59 };
const HOUR: Field = { label: 'hour', min: 0, max: 23 };
const DOM: Field = { label: 'day of month', min: 1, max: 31 };
const MONTH: Field = { label: 'month', min: 1, max: 12, names: MONTHS };
/** Crontab day-of-week: 0-7, both 0 and 7 Sunday. */
const DOW: Field = { label: 'day of week', min: 0, max: 7, names: [...DAYS, 'SUN'] };

function value(f: Field, token: string): number {
  const byName = f.names?.findIndex((n) => n === token.toUpperCase()) ?? -1;
  if (byName >= 0 && /^[a-z]{3}$/i.test(token)) return byName + f.min;
  if (!/^\d+$/.test(token)) throw new MapError(`${f.label}: "${token}" is not a number${f.names ? ' or a three-letter name' : ''}`);
  const n = Number(token);
  if (n < f.min || n > f.max) throw new MapError(`${f.label}: ${n} is outside ${f.min}-${f.max}`);
  return n;
}

/** The set of values a crontab field selects. */
function expand(f: Field, raw: string): Set<number> {
  const out = new Set<number>();
  for (const part of raw.split(',')) {
    const [range, stepRaw] = part.split('/');
    if (stepRaw !== undefined && (!/^\d+$/.test(stepRaw) || Number(stepRaw) < 1)) throw new MapError(`${f.label}: bad step "/${stepRaw}"`);
    const step = stepRaw === undefined ? 1 : Number(stepRaw);
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [f.min, f === DOW ? 6 : f.max];
    else if (range.includes('-')) {
      const [a, b] = range.split('-');
      [lo, hi] = [value(f, a), value(f, b)];
      if (lo > hi) throw new MapError(`${f.label}: range ${range} runs backwards`);
    } else {
      lo = value(f, range);
      hi = stepRaw === undefined ? lo : f === DOW ? 6 : f.max;
    }
    for (let n = lo; n <= hi; n += step) out.add(n);
  }
  return out;
}

/** Minute, hour, day-of-month, month: same meaning in AWS; written so that AWS's parser takes it. */
function plainField(f: Field, raw: string): string {
  const values = expand(f, raw); // validates
  if (raw === '*') return '*';
  if (/^\*\/\d+$/.test(raw)) return `${f.min}/${raw.split('/')[1]}`;
  if (/^\d+\/\d+$/.test(raw)) return raw;
  // Lists, names and plain ranges read the same in AWS; a stepped range is written out.
  if (raw.includes('/')) return [...values].sort((a, b) => a - b).join(',');
  return raw.toUpperCase();
}

/** Crontab day-of-week values (0-7) -> AWS names, with runs of days as ranges (MON-FRI). */
function dowField(values: ReadonlySet<number>): string {
  const aws = new Set([...values].map((v) => v % 7)); // 7 is Sunday too
  const days = [...aws].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < days.length; ) {
    let j = i;
    while (j + 1 < days.length && days[j + 1] === days[j] + 1) j++;
    parts.push(j - i >= 2 ? `${DAYS[days[i]]}-${DAYS[days[j]]}` : days.slice(i, j + 1).map((d) => DAYS[d]).join(','));
    i = j + 1;
  }
  return parts.join(',');
}

/** The AWS expression of five crontab fields; throws MapError (with the fix) when AWS cannot say it. */
export function toAwsCron(fields: ReadonlyArray<string>): string {
  if (fields.length !== 5) throw new MapError(`expected 5 schedule fields (minute hour day-of-month month day-of-week), got ${fields.length}`);
  const [mi, h, dom, mon, dow] = fields;
  const minute = plainField(MINUTE, mi);
  const hour = plainField(HOUR, h);
  const month = plainField(MONTH, mon);
  const domValues = expand(DOM, dom);
  const dowValues = expand(DOW, dow);
  const domAll = domValues.size === 31;
  const dowAll = new Set([...dowValues].map((v) => v % 7)).size === 7;
  if (!domAll && !dowAll) {
    const either = `cron(${minute} ${hour} ${plainField(DOM, dom)} ${month} ? *) and cron(${minute} ${hour} ? ${month} ${dowField(dowValues)} *)`;
    throw new MapError(
      dom.startsWith('*') || dow.startsWith('*')
        ? `both day-of-month ("${dom}") and day-of-week ("${dow}") are restricted (crontab runs when both match here), which AWS cron cannot express: one of them must be "?". Pick one, or filter the other day in the producer`
        : `both day-of-month ("${dom}") and day-of-week ("${dow}") are restricted (crontab runs when EITHER matches), which AWS cron cannot express: one of them must be "?". Make two jobs: ${either}`,
    );
  }
  const domOut = domAll ? (dowAll ? '*' : '?') : plainField(DOM, dom);
  const dowOut = dowAll ? '?' : dowField(dowValues);
  return `cron(${minute} ${hour} ${domOut} ${month} ${dowOut} *)`;
}

const INTERPRETERS = new Set(['python', 'python2', 'python3', 'node', 'bash', 'sh', 'zsh', 'ruby', 'php', 'perl', 'env', 'nice', 'ionice', 'nohup', 'exec', 'sudo', 'flock', 'timeout', 'time', 'bundle', 'npx', 'npm', 'yarn', 'uv', 'poetry', 'pipenv', 'run', 'cd']);
/** Runners whose first argument names the task (manage.py send_reminders, rake db:backup, celery -A app call tasks.x). */
const TASK_RUNNERS = /^(manage\.py|artisan|rake|invoke|make|django-admin|flask|celery|php|console)$/;

/** A job name from the command: the script or task it runs, lowercase with dashes, at most 32 characters. */
export function nameFromCommand(command: string): string {
  const main = command.split(/\s*(?:&&|\|\||;|\||>|<|2>)\s*/).filter((p) => !/^cd\s/.test(p.trim()))[0] ?? command;
  const tokens = main.trim().split(/\s+/).filter((t) => t !== '' && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(t));
  let pick: string | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const base = t.split('/').pop() ?? t;
    if (t.startsWith('-') || /^\d+[smhd]?$/.test(t)) continue; // flags, timeout durations
    if (INTERPRETERS.has(base.replace(/[\d.]+$/, '')) || INTERPRETERS.has(base)) continue;
    if (TASK_RUNNERS.test(base)) {
      const task = tokens.slice(i + 1).find((x) => !x.startsWith('-') && !x.includes('/'));
      pick = task ?? base;
      break;
    }
    pick = base;
    break;
  }
  const slug = (pick ?? 'job')
    .replace(/\.(sh|py|js|ts|rb|php|pl|bash)$/i, '')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 32)
    .replace(/-+$/, '');
  return slug === '' ? 'job' : slug;
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz.includes('/') || tz === 'UTC';
  } catch {
    return false;
  }
}

/** How the file is read. */
export interface ImportOptions {
  /**
   * A system crontab (/etc/crontab, /etc/cron.d/*): a user column follows the schedule. The user
   * is dropped (a job runs as its function's role), with a note in the description.
   * @default false
   */
  readonly system?: boolean;
}

/** Users a system crontab names in its sixth column: a user crontab with one of these as its command is probably a system one. */
const SYSTEM_USERS = new Set(['root', 'www-data', 'nobody', 'daemon', 'postgres', 'mysql', 'nginx', 'apache']);

/** Parses a crontab file's text. A line that is not mapped gives a warning and no job. */
export function importCrontab(text: string, options: ImportOptions = {}): ImportResult {
  const jobs: ImportedJob[] = [];
  const warnings: ImportWarning[] = [];
  const names = new Set<string>();
  let timeZone: string | null = null;
  let comment: string | null = null;
  text.split(/\r?\n/).forEach((rawLine, i) => {
    const line = i + 1;
    const trimmed = rawLine.trim();
    const warn = (message: string) => warnings.push({ line, text: trimmed, message });
    if (trimmed === '') {
      comment = null;
      return;
    }
    if (trimmed.startsWith('#')) {
      const c = trimmed.replace(/^#+\s*/, '');
      comment = c === '' ? comment : c;
      return;
    }
    const env = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(trimmed);
    if (env) {
      const [, key, raw] = env;
      const val = raw.replace(/^(['"])(.*)\1$/, '$2').trim();
      if (key === 'CRON_TZ' || key === 'TZ') {
        if (validTimeZone(val)) timeZone = val;
        else warn(`${key}=${val} is not an IANA time zone (e.g. Asia/Tokyo); the lines after it keep ${timeZone ?? 'the app\'s time zone'}`);
      } else {
        warn(`environment line ${key} is not carried over: set what the job needs in its config (environment of the producer or steps) or its secrets`);
      }
      comment = null;
      return;
    }
    let fields: string[];
    let command: string;
    let rest: string[];
    let cron: string;
    if (trimmed.startsWith('@')) {
      const [macro, ...args] = trimmed.split(/\s+/);
      command = args.join(' ');
      cron = macro;
      if (macro.toLowerCase() === '@reboot') {
        warn('@reboot runs at boot, which has no schedule equivalent: run it from your deployment instead');
        comment = null;
        return;
      }
      const expansion = MACROS[macro.toLowerCase()];
      if (!expansion) {
        warn(`unknown macro ${macro} (known: ${Object.keys(MACROS).join(', ')}, @reboot)`);
        comment = null;
        return;
      }
      fields = expansion.split(' ');
    } else {
      const parts = trimmed.split(/\s+/);
      fields = parts.slice(0, 5);
      command = parts.slice(5).join(' ');
      cron = fields.join(' ');
    }
    let user: string | null = null;
    if (options.system) {
      [user, ...rest] = command.split(/\s+/);
      command = rest.join(' ');
    } else if (SYSTEM_USERS.has(command.split(/\s+/)[0]) && command.split(/\s+/).length > 1) {
      warn(`the command starts with "${command.split(/\s+/)[0]}": if this is a system crontab (/etc/crontab, /etc/cron.d), import it with --system`);
    }
    if (command === '') {
      warn('no command after the schedule');
      comment = null;
      return;
    }
    let schedule: string;
    try {
      schedule = toAwsCron(fields);
      parseSchedule(schedule); // the parser synth runs: never emit what it refuses
    } catch (e) {
      warn(`not mapped: ${(e as Error).message}`);
      comment = null;
      return;
    }
    let name = nameFromCommand(command);
    for (let n = 2; names.has(name); n++) name = `${nameFromCommand(command).slice(0, 32 - String(n).length - 1)}-${n}`;
    names.add(name);
    if (command.includes('%')) warn(`the command holds "%", which crontab turns into a newline (stdin): check ${name}'s port`);
    const description = (comment ?? `From crontab line ${line}: ${command}`) + (user ? ` (ran as ${user})` : '');
    jobs.push({ name, schedule, timeZone, description: description.slice(0, 200), command, line, cron });
    comment = null;
  });
  return { jobs, warnings };
}

/** A TypeScript string literal. */
const lit = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The entries as TypeScript for `jobs: [...]` in bin/config.ts, each with its source line as a comment. */
export function renderTs(result: ImportResult): string {
  const lines: string[] = [
    '// Generated by `npx scheduled-jobs import-crontab`: paste into `jobs: [...]` in bin/config.ts.',
    '// Scaffold each job\'s code with `npx scheduled-jobs new-job <name>`, then port its command into the producer and steps.',
  ];
  for (const j of result.jobs) {
    lines.push(
      `// line ${j.line}: ${j.cron} ${j.command}`,
      '{',
      `  name: ${lit(j.name)},`,
      `  description: ${lit(j.description)},`,
      `  schedule: ${lit(j.schedule)},`,
      ...(j.timeZone ? [`  timeZone: ${lit(j.timeZone)},`] : []),
      `  producer: { entry: ${lit(`lambdas/jobs/${j.name}/producer.ts`)} },`,
      `  steps: [{ name: 'Run', entry: ${lit(`lambdas/jobs/${j.name}/run.ts`)}, timeoutSeconds: 60, retry: { maxAttempts: 3, intervalSeconds: 5, retryableErrors: ['TransientError'] } }],`,
      '},',
    );
  }
  for (const w of result.warnings) lines.push(`// WARNING line ${w.line} (${w.text}): ${w.message}`);
  return `${lines.join('\n')}\n`;
}
