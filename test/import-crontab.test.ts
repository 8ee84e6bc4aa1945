/**
 * import-crontab (cli/crontab.ts): crontab lines -> job config entries. Each expected expression is
 * also checked by evaluating it: the AWS schedule must fire at exactly the minutes crontab would
 * (a crontab evaluator written here from crontab(5), Sunday = 0 or 7), over a few weeks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/main';
import { importCrontab, nameFromCommand, renderTs, toAwsCron } from '../cli/crontab';
import { cronTicks } from '../cli/job-schedule';
import { parseSchedule } from '../lambdas/shared/schedule';
import { fixtureConfig } from './support/fixture-config';

/** crontab(5)'s own rule, for the comparison: both day fields restricted = either matches; one starting with * = both. */
function crontabMatcher(fields: string[]): (d: Date) => boolean {
  const set = (raw: string, min: number, max: number, names: string[] = []) => {
    const out = new Set<number>();
    for (const part of raw.split(',')) {
      const [r, st] = part.split('/');
      const v = (t: string) => (names.indexOf(t.toUpperCase()) >= 0 ? names.indexOf(t.toUpperCase()) + min : Number(t));
      const [lo, hi] = r === '*' ? [min, max] : r.includes('-') ? r.split('-').map(v) : [v(r), st ? max : v(r)];
      for (let n = lo; n <= hi; n += st ? Number(st) : 1) out.add(n);
    }
    return out;
  };
  const [mi, h, dom, mon, dow] = fields;
  const [mins, hours, doms, months] = [set(mi, 0, 59), set(h, 0, 23), set(dom, 1, 31), set(mon, 1, 12, ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'])];
  const dows = new Set([...set(dow, 0, 7, ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'])].map((x) => x % 7));
  const and = dom.startsWith('*') || dow.startsWith('*');
  return (d) => {
    const domOk = doms.has(d.getUTCDate());
    const dowOk = dows.has(d.getUTCDay());
    return mins.has(d.getUTCMinutes()) && hours.has(d.getUTCHours()) && months.has(d.getUTCMonth() + 1) && (and ? domOk && dowOk : domOk || dowOk);
  };
}

describe('toAwsCron', () => {
  test.each([
    ['0 2 * * *', 'cron(0 2 * * ? *)'],
    ['*/15 * * * *', 'cron(0/15 * * * ? *)'],
    ['30 8 * * 1-5', 'cron(30 8 ? * MON-FRI *)'],
    ['0 9 * * 0', 'cron(0 9 ? * SUN *)'],
    ['0 9 * * 7', 'cron(0 9 ? * SUN *)'],
    ['0 9 * * 5-7', 'cron(0 9 ? * SUN,FRI,SAT *)'],
    ['0 9 * * sat,sun', 'cron(0 9 ? * SUN,SAT *)'],
    ['0 */6 1,15 * *', 'cron(0 0/6 1,15 * ? *)'],
    ['10-40/10 3 * jan-mar *', 'cron(10,20,30,40 3 * JAN-MAR ? *)'],
    ['0 0 1 */3 *', 'cron(0 0 1 1/3 ? *)'],
    ['5 4 * * */2', 'cron(5 4 ? * SUN,TUE,THU,SAT *)'],
    ['0 12 * * 0-6', 'cron(0 12 * * ? *)'],
  ])('%s -> %s, firing at the same minutes', (crontab, aws) => {
    expect(toAwsCron(crontab.split(' '))).toBe(aws);
    const from = new Date('2026-01-01T00:00:00Z');
    const to = new Date('2026-04-15T00:00:00Z');
    // cronTicks fires what the shared scheduleTicks fires (test/operator-schedule.test.ts), a quarter-hour at a time.
    const s = parseSchedule(aws);
    if (s.kind !== 'cron') throw new Error('not cron');
    const fired = cronTicks(s.fields, 'UTC', from, new Date(to.getTime() - 1)).map((d) => d.getTime());
    const fires = crontabMatcher(crontab.split(' '));
    const expected: number[] = [];
    for (let t = from.getTime(); t < to.getTime(); t += 60_000) if (fires(new Date(t))) expected.push(t);
    expect(fired.length).toBeGreaterThan(0);
    expect(fired).toEqual(expected);
  });

  test('both day fields restricted: refused, with the two schedules to use as two jobs', () => {
    expect(() => toAwsCron('0 9 1 * 1'.split(' '))).toThrow(/EITHER matches.*cron\(0 9 1 \* \? \*\) and cron\(0 9 \? \* MON \*\)/);
    expect(() => toAwsCron('0 9 */2 * 1'.split(' '))).toThrow(/both match here/);
  });

  test('bad fields are named', () => {
    expect(() => toAwsCron('61 * * * *'.split(' '))).toThrow(/minute: 61 is outside 0-59/);
    expect(() => toAwsCron('0 0 * * 8'.split(' '))).toThrow(/day of week: 8/);
    expect(() => toAwsCron('0 0 * *'.split(' '))).toThrow(/expected 5 schedule fields/);
  });
});

test('job names come from the command: the script, or the task of a task runner', () => {
  expect(nameFromCommand('/usr/local/bin/backup-db.sh --full >> /var/log/backup.log 2>&1')).toBe('backup-db');
  expect(nameFromCommand('cd /srv/app && /usr/bin/python3 manage.py send_reminders --settings=prod')).toBe('send-reminders');
  expect(nameFromCommand('php artisan invoices:close')).toBe('invoices-close');
  expect(nameFromCommand('FOO=1 /usr/bin/env node /srv/jobs/SyncOrders.js')).toBe('sync-orders');
  expect(nameFromCommand('timeout 300 nice -n 10 /opt/x/2fa-cleanup')).toBe('fa-cleanup');
});

test('a whole crontab: macros, CRON_TZ/TZ, comments as descriptions, unique names, and a warning for each line it cannot map', () => {
  const text = [
    'SHELL=/bin/bash',
    'MAILTO=ops@example.com',
    '# nightly backup',
    '0 2 * * * /usr/local/bin/backup-db.sh',
    'CRON_TZ=Asia/Tokyo',
    '@daily /usr/local/bin/backup-db.sh --logs',
    '@hourly cd /srv && python3 manage.py send_reminders',
    '@weekly /opt/report.py',
    '@monthly /opt/close-books',
    '@yearly /opt/archive',
    '@reboot /opt/warm-cache',
    'TZ=Not/AZone',
    '0 9 1 * 1 /opt/both-days',
    '0 9 * * 1 /opt/mail % with percent',
    '@every5m /opt/x',
    '61 * * * * /opt/bad',
    '0 3 * * *',
  ].join('\n');
  const r = importCrontab(text);
  expect(r.jobs.map((j) => [j.line, j.name, j.schedule, j.timeZone])).toEqual([
    [4, 'backup-db', 'cron(0 2 * * ? *)', null],
    [6, 'backup-db-2', 'cron(0 0 * * ? *)', 'Asia/Tokyo'],
    [7, 'send-reminders', 'cron(0 * * * ? *)', 'Asia/Tokyo'],
    [8, 'report', 'cron(0 0 ? * SUN *)', 'Asia/Tokyo'],
    [9, 'close-books', 'cron(0 0 1 * ? *)', 'Asia/Tokyo'],
    [10, 'archive', 'cron(0 0 1 1 ? *)', 'Asia/Tokyo'],
    [14, 'mail', 'cron(0 9 ? * MON *)', 'Asia/Tokyo'],
  ]);
  expect(r.jobs[0].description).toBe('nightly backup');
  expect(r.jobs[1].description).toBe('From crontab line 6: /usr/local/bin/backup-db.sh --logs');
  expect(r.warnings.map((w) => [w.line, w.message.split(/[:,]/)[0]])).toEqual([
    [1, 'environment line SHELL is not carried over'],
    [2, 'environment line MAILTO is not carried over'],
    [11, '@reboot runs at boot'],
    [12, 'TZ=Not/AZone is not an IANA time zone (e.g. Asia/Tokyo); the lines after it keep Asia/Tokyo'],
    [13, 'not mapped'],
    [14, 'the command holds "%"'],
    [15, 'unknown macro @every5m (known'],
    [16, 'not mapped'],
    [17, 'no command after the schedule'],
  ]);
  // Every emitted expression passes the parser synth runs, and job names follow bin/config.ts's rule.
  for (const j of r.jobs) {
    expect(() => parseSchedule(j.schedule)).not.toThrow();
    expect(j.name).toMatch(/^[a-z][a-z0-9-]{0,31}$/);
  }
  const ts = renderTs(r);
  expect(ts).toContain("  schedule: 'cron(0 0 * * ? *)',\n  timeZone: 'Asia/Tokyo',");
  expect(ts).toContain("producer: { entry: 'lambdas/jobs/send-reminders/producer.ts' }");
  expect(ts).toContain('// WARNING line 11 (@reboot /opt/warm-cache)');
});

test('a system crontab (--system): the user column is dropped and noted; without --system such a line is flagged', () => {
  const text = '0 2 * * * root /usr/local/bin/backup-db.sh\n@daily www-data /srv/app/cleanup.sh\n';
  const sys = importCrontab(text, { system: true });
  expect(sys.jobs.map((j) => [j.name, j.schedule, j.command, j.description])).toEqual([
    ['backup-db', 'cron(0 2 * * ? *)', '/usr/local/bin/backup-db.sh', 'From crontab line 1: /usr/local/bin/backup-db.sh (ran as root)'],
    ['cleanup', 'cron(0 0 * * ? *)', '/srv/app/cleanup.sh', 'From crontab line 2: /srv/app/cleanup.sh (ran as www-data)'],
  ]);
  expect(sys.warnings).toEqual([]);
  const user = importCrontab(text);
  expect(user.warnings.map((w) => w.line)).toEqual([1, 2]);
  expect(user.warnings[0].message).toContain('--system');
});

test('the command: file in, entries on stdout, warnings on stderr; json; an unreadable file is exit 2; no AWS', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'crontab-'));
  try {
    const file = join(dir, 'my.crontab');
    writeFileSync(file, 'CRON_TZ=Europe/Paris\n30 6 * * 1-5 /opt/morning.sh\n@reboot /opt/x\n');
    const run = async (args: string[]) => {
      let out = '';
      let err = '';
      const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) }, { config: fixtureConfig, env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' } });
      return { code, out, err };
    };
    const ts = await run(['import-crontab', file]);
    expect(ts.code).toBe(0);
    expect(ts.out).toContain("schedule: 'cron(30 6 ? * MON-FRI *)',\n  timeZone: 'Europe/Paris',");
    expect(ts.err).toContain('Warning: line 3: @reboot');
    const json = await run(['import-crontab', file, '--output', 'json']);
    expect(JSON.parse(json.out).jobs[0]).toMatchObject({ name: 'morning', schedule: 'cron(30 6 ? * MON-FRI *)', timeZone: 'Europe/Paris' });
    const missing = await run(['import-crontab', join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('Cannot read');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
