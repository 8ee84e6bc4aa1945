/**
 * The operator controls without a redeploy — `jobs`, `pause`, `resume`, `run`, `backfill` — end to
 * end with no AWS: the CLI's real SDK clients against the synthesized stack served by the local
 * stand-ins (test/support/operator-world.ts). The pause item is read by the REAL example-api producer
 * (run by the Lambda stand-in with the environment its construct synthesizes) through reprocess, and
 * the tick ledger it writes on dynalite is what `jobs` and `backfill` read back. Every argument error
 * is refused before any AWS request.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, DeleteMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { tickStamp } from '../lambdas/shared/names';
import { runCli } from '../cli/main';
import { CliDeps } from '../cli/io';
import { OPERATOR_ARN, OperatorWorld, REPROCESS_FUNCTION, startOperatorWorld, TABLE } from './support/operator-world';
import { fixtureConfig } from './support/fixture-config';

let world: OperatorWorld;
let sqs: SQSClient;
const JOB = 'example-api';
const FIVE_MIN = 300_000;
/** A tick of example-api's schedule (every 5 minutes) `n` ticks before now. */
const tickAgo = (n: number) => new Date(Math.floor(Date.now() / FIVE_MIN) * FIVE_MIN - n * FIVE_MIN);

async function cli(args: string[], deps: Partial<CliDeps> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) }, { config: fixtureConfig, sleep: async () => undefined, ...deps });
  return { code, out, err };
}

/** Every request the stand-ins served: each command reaches AWS through STS first, then CloudFormation, Lambda, DynamoDB. */
const awsRequests = () => world.sts.regions.length + Object.values(world.cfn.calls).reduce((a, b) => a + b, 0) + world.lambda.invocations.length;

const ledgerState = async (t: Date): Promise<string | null> => {
  const r = await world.dynamo.client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `tick#${JOB}#${tickStamp(t)}` } }, ConsistentRead: true }));
  return r.Item?.state?.S ?? null;
};

async function drainTickQueue(): Promise<number> {
  let n = 0;
  for (;;) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: world.queues.urls.tick, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!r.Messages?.length) return n;
    for (const m of r.Messages) {
      n++;
      await sqs.send(new DeleteMessageCommand({ QueueUrl: world.queues.urls.tick, ReceiptHandle: m.ReceiptHandle }));
    }
  }
}

beforeAll(async () => {
  world = await startOperatorWorld();
  sqs = new SQSClient({});
}, 120_000);

afterAll(async () => {
  sqs?.destroy();
  await world?.stop();
});

afterEach(async () => {
  await world.lambda.idle();
});

describe('arguments are checked before any AWS request (exit 2)', () => {
  test.each([
    ['pause without a reason', ['pause', JOB], 'needs a reason'],
    ['pause of an unknown job', ['pause', 'exampel-api', '--reason', 'x'], 'Unknown job "exampel-api"'],
    ['resume of an unknown job', ['resume', 'nope'], 'Jobs of stage dev: example-api, example-fanout'],
    ['run of an unknown job', ['run', 'nope'], 'Unknown job "nope"'],
    ['backfill without --to', ['backfill', JOB, '--from', '2h'], 'needs --from and --to'],
    ['backfill with a time without a zone', ['backfill', JOB, '--from', '2026-11-25T02:00', '--to', 'now'], 'Add the zone, e.g. 2026-11-25T02:00Z'],
    ['backfill with a bad time', ['backfill', JOB, '--from', 'yesterday', '--to', 'now'], '--from "yesterday" is not a time'],
    ['backfill with --from after --to', ['backfill', JOB, '--from', '1h', '--to', '2h'], 'is after --to'],
    ['backfill into the future', ['backfill', JOB, '--from', '1h', '--to', '2099-01-01T00:00Z'], 'is in the future'],
    ['backfill past the ledger\'s memory', ['backfill', JOB, '--from', '40d', '--to', '39d'], 'more than 34 days ago'],
    ['backfill of a huge range without --max', ['backfill', JOB, '--from', '1d', '--to', 'now'], 'fires more than 50 times'],
    ['backfill with a bad --max', ['backfill', JOB, '--from', '1h', '--to', 'now', '--max', '0'], '--max must be a whole number from 1 to 1000'],
    ['backfill with a bad --pace', ['backfill', JOB, '--from', '1h', '--to', 'now', '--pace', 'fast'], '--pace must be'],
    ['jobs with a bad --output', ['jobs', '--output', 'yaml'], 'yaml'],
    ['replay of an unknown job', ['replay', '--job', 'exampel-api', '--dry-run'], 'Unknown job "exampel-api"'],
    ['replay with a bad --max', ['replay', '--max', 'lots'], '--max must be a whole number'],
    ['tick rerun of an unknown job', ['tick', 'rerun', '--job', 'nope', '--tick', '20261125T0300Z'], 'Unknown job "nope"'],
    ['status with a bad --scan', ['status', '--scan', '0'], '--scan must be'],
    ['task with a bad --days', ['task', 'example-api-20261125T0305Z-k', '--days', 'x'], '--days must be'],
  ])('%s', async (_, args, message) => {
    const before = awsRequests();
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(awsRequests()).toBe(before);
  });
});

describe('pause, resume, jobs, backfill', () => {
  test('pause records who, when and why; the real producer then plans nothing and records the tick paused; resume lists it; backfill runs it once', async () => {
    // One base for the ticks below, so a 5-minute boundary passing during the test moves none of them.
    const base = tickAgo(0).getTime();
    const at = (n: number) => new Date(base - n * FIVE_MIN);
    const paused = await cli(['pause', JOB, '--reason', 'orders DB migration, INC-42']);
    expect(paused.code).toBe(0);
    expect(paused.out).toContain(`${JOB} is paused`);
    const item = await world.dynamo.client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `pause#${JOB}` } }, ConsistentRead: true }));
    expect(item.Item).toMatchObject({ value: { S: 'on' }, by: { S: OPERATOR_ARN }, reason: { S: 'orders DB migration, INC-42' } });

    const list = await cli(['jobs', '--output', 'json']);
    expect(list.code).toBe(0);
    const views = JSON.parse(list.out).jobs as Array<{ job: string; pause: { paused: boolean; by: string; reason: string }; timeZone: string; nextRun: string; schedule: string; deployed: boolean }>;
    expect(views.map((v) => v.job)).toEqual(['example-api', 'example-fanout']);
    expect(views[0]).toMatchObject({ schedule: 'cron(0/5 * * * ? *)', timeZone: 'Asia/Tokyo', deployed: true, pause: { paused: true, by: OPERATOR_ARN, reason: 'orders DB migration, INC-42' } });
    expect(views[1].pause.paused).toBe(false);
    // Next run: the next 5-minute mark (example-api), the next :15 (example-fanout).
    expect(Date.parse(views[0].nextRun) % FIVE_MIN).toBe(0);
    expect(Date.parse(views[0].nextRun) - Date.now()).toBeLessThanOrEqual(FIVE_MIN);
    expect(new Date(views[1].nextRun).getUTCMinutes()).toBe(15);
    const text = await cli(['jobs']);
    expect(text.out).toMatch(/example-api\s+cron\(0\/5 \* \* \* \? \*\)\s+Asia\/Tokyo\s+PAUSED/);
    expect(text.out).toContain('orders DB migration, INC-42');

    // The schedule's tick while paused, as Scheduler would deliver it (here through reprocess, the same event to the producer).
    const t = at(2);
    const during = await cli(['tick', 'rerun', '--job', JOB, '--tick', tickStamp(t), '--json']);
    expect(JSON.parse(during.out)).toMatchObject({ outcome: 'invoked', producer: { outcome: 'paused', tasks: 0 } });
    expect(await ledgerState(t)).toBe('paused');
    expect(await drainTickQueue()).toBe(0);
    const rerunText = await cli(['tick', 'rerun', '--job', JOB, '--tick', tickStamp(t)]);
    expect(rerunText.out).toContain('The job is paused');
    // tick rerun --ignore-pause: reprocess accepts the field (a dry run validates the payload, invokes no producer).
    const dryIgnore = await cli(['tick', 'rerun', '--job', JOB, '--tick', tickStamp(t), '--ignore-pause', '--dry-run']);
    expect(dryIgnore.code).toBe(0);
    expect(dryIgnore.err).toContain('"ignorePause":true');
    expect(await ledgerState(t)).toBe('paused');

    // run and backfill refuse while paused (exit 1) unless --ignore-pause; a dry run still shows the plan.
    const n = world.lambda.invocations.length;
    const refused = await cli(['run', JOB]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('is paused');
    expect(refused.err).toContain('--ignore-pause');
    expect(world.lambda.invocations.length).toBe(n);

    const resumed = await cli(['resume', JOB]);
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain('is resumed');
    expect(resumed.out).toContain('1 tick(s) were skipped while paused');
    expect(resumed.out).toContain(`scheduled-jobs backfill ${JOB} --from ${t.toISOString()}`);

    // A dry run: the paused tick would run, the others too (none of them ran: the dev stage's schedule is off).
    const from = at(3);
    const to = at(1);
    const dry = await cli(['backfill', JOB, '--from', from.toISOString(), '--to', to.toISOString(), '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const dryRows = JSON.parse(dry.out).ticks as Array<{ tick: string; before: string; outcome: string }>;
    expect(dryRows.map((r) => [r.tick, r.before, r.outcome])).toEqual([
      [tickStamp(from), 'none', 'wouldRun'],
      [tickStamp(t), 'paused', 'wouldRun'],
      [tickStamp(to), 'none', 'wouldRun'],
    ]);
    expect(world.lambda.invocations.length).toBe(n);

    // The real one: each tick through reprocess, paced; the paused tick is planned now.
    const slept: number[] = [];
    const real = await cli(['backfill', JOB, '--from', from.toISOString(), '--to', to.toISOString(), '--json'], { sleep: async (ms) => void slept.push(ms) });
    expect(real.code).toBe(0);
    const body = JSON.parse(real.out);
    expect(body.ticks.map((r: { outcome: string; tasks: number }) => [r.outcome, r.tasks])).toEqual([
      ['planned', 3],
      ['planned', 3],
      ['planned', 3],
    ]);
    expect(slept).toEqual([2000, 2000]);
    expect(world.lambda.invocations.slice(n).filter((i) => i.functionName === REPROCESS_FUNCTION).map((i) => i.payload)).toEqual(
      [from, t, to].map((x) => ({ source: 'tick', job: JOB, tick: x.toISOString() })),
    );
    expect(await ledgerState(t)).toBe('planned');
    expect(await drainTickQueue()).toBe(3);

    // Again: every tick is skipped (the ledger), nothing is invoked, nothing enqueued.
    const m = world.lambda.invocations.length;
    const again = await cli(['backfill', JOB, '--from', from.toISOString(), '--to', to.toISOString()]);
    expect(again.code).toBe(0);
    expect(again.out).toContain('skipped 3');
    expect(world.lambda.invocations.length).toBe(m);
    expect(await drainTickQueue()).toBe(0);

    // jobs: the last tick and its outcome from the ledger.
    const after = JSON.parse((await cli(['jobs', '--json'])).out).jobs[0];
    expect(after.pause.paused).toBe(false);
    expect(after.lastTick).toMatchObject({ scheduledTime: to.toISOString(), state: 'planned', outcome: expect.stringContaining('3 tasks') });
  });

  test('--max runs the first n ticks of a long range and says where to continue', async () => {
    const from = tickAgo(70);
    const to = new Date(from.getTime() + 10 * FIVE_MIN);
    const r = await cli(['backfill', JOB, '--from', from.toISOString(), '--to', to.toISOString(), '--max', '4', '--pace', '0', '--json']);
    expect(r.code).toBe(0);
    const body = JSON.parse(r.out);
    expect(body.ticks).toHaveLength(4);
    expect(body.more).toBe(true);
    expect(body.continueFrom).toBe(new Date(from.getTime() + 4 * FIVE_MIN).toISOString());
    expect(await drainTickQueue()).toBe(4);
  });
});

describe('run', () => {
  test('runs this minute\'s tick through reprocess; a second run in the same minute plans nothing twice (the ledger)', async () => {
    const now = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 7_000);
    const first = await cli(['run', JOB, '--json'], { now: () => now });
    expect(first.code).toBe(0);
    const minute = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
    expect(JSON.parse(first.out)).toMatchObject({ job: JOB, tick: tickStamp(minute), outcome: 'planned', tasks: 3 });
    expect(world.lambda.invocations.filter((i) => i.functionName === REPROCESS_FUNCTION).pop()?.payload).toEqual({ source: 'tick', job: JOB, tick: minute.toISOString() });
    const second = await cli(['run', JOB], { now: () => now });
    expect(second.code).toBe(0);
    expect(second.out).toContain('already planned in this minute');
    expect(await drainTickQueue()).toBe(1);
  });

  test('--dry-run invokes nothing; --ignore-pause runs a paused job', async () => {
    const n = world.lambda.invocations.length;
    const dry = await cli(['run', JOB, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain('Dry run: would run tick');
    expect(world.lambda.invocations.length).toBe(n);
    await cli(['pause', JOB, '--reason', 'test']);
    try {
      // A minute no other test plans: 20 minutes back (the test above plans the current minute, which
      // may have turned since) and off the schedule's 5-minute ticks (backfills plan those).
      let minute = Math.floor(Date.now() / 60_000) - 20;
      if (minute % 5 === 0) minute -= 1;
      const now = new Date(minute * 60_000);
      const r = await cli(['run', JOB, '--ignore-pause', '--json'], { now: () => now });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ outcome: 'planned' });
      expect(world.lambda.invocations.filter((i) => i.functionName === REPROCESS_FUNCTION).pop()?.payload).toMatchObject({ ignorePause: true });
    } finally {
      await cli(['resume', JOB]);
      await drainTickQueue();
    }
  });
});

describe('--help', () => {
  test('the program lists the new commands', async () => {
    const r = await cli(['--help']);
    for (const c of ['jobs', 'pause', 'resume', 'run', 'backfill', 'report', 'import-crontab']) expect(r.out).toMatch(new RegExp(`\\n  ${c} `));
  });

  test.each(['jobs', 'pause', 'resume', 'run', 'backfill', 'report'])('%s --help lists its own and the common options, exit 0', async (cmd) => {
    const r = await cli([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Usage: scheduled-jobs ${cmd}`);
    for (const opt of ['--stage <stage>', '--region <region>', '--profile <profile>', '--json']) expect(r.out).toContain(opt);
  });

  test('a missing job argument is a usage error (exit 2) before any AWS request', async () => {
    const before = awsRequests();
    for (const cmd of ['pause', 'resume', 'run', 'backfill']) expect((await cli([cmd])).code).toBe(2);
    expect(awsRequests()).toBe(before);
  });
});
