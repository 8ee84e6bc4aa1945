import { z } from 'zod';
import { declaredErrorNames, nearMiss, PLATFORM_ERROR_NAMES, schemaFieldPaths } from '../lib/config/job-contracts';
import { AppConfig, JobConfig, LambdaStepConfig } from '../lib/config/types';
import { ConfigError, resolveConfig } from '../lib/config/validate';
import { fixtureConfig } from './support/fixture-config';

/**
 * Synth's checks of a job against its own code (lib/config/job-contracts.ts): exclusiveBy against the
 * params schema, retryableErrors against the errors the job declares, the job's time zone. A typo
 * fails synth naming the field and the near miss.
 */

function problems(c: AppConfig, opts: Parameters<typeof resolveConfig>[1] = {}): string[] {
  try {
    resolveConfig(c, { allJobs: true, ...opts });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
}

const editJob = (name: string, edit: (j: JobConfig) => JobConfig): AppConfig => ({ ...fixtureConfig, jobs: fixtureConfig.jobs.map((j) => (j.name === name ? edit(j) : j)) });
const editStep = (j: JobConfig, stepName: string, edit: (s: LambdaStepConfig) => LambdaStepConfig): JobConfig => ({
  ...j,
  steps: j.steps.map((s) => ('entry' in s && s.name === stepName ? edit(s) : s)),
});

describe('retryableErrors must name errors the job declares or the platform', () => {
  test('the fixture config passes: its names come from the job errors module and lambdas/shared/errors.ts', () => {
    expect(problems(fixtureConfig)).toEqual([]);
  });

  test('a typo of a job error fails synth naming the field path and the near miss', () => {
    const c = editJob('example-api', (j) => editStep(j, 'CallApi', (s) => ({ ...s, retry: { ...s.retry, retryableErrors: ['ExternalApiUnavailableEror'] } })));
    const p = problems(c);
    expect(p).toHaveLength(1);
    expect(p[0]).toContain('jobs[0] (example-api).steps[1] (CallApi).retry.retryableErrors[0]');
    expect(p[0]).toContain('"ExternalApiUnavailableEror" is not an error this job declares');
    expect(p[0]).toContain('did you mean "ExternalApiUnavailableError"?');
  });

  test('a typo of a platform error inside a map is named with its path; a job without an errors module is told how to declare one', () => {
    const c = editJob('example-fanout', (j) => ({
      ...j,
      steps: j.steps.map((s) =>
        'map' in s ? { ...s, map: { ...s.map, steps: s.map.steps.map((x) => ({ ...x, retry: { ...x.retry, retryableErrors: ['TransientErorr', 'ConnectionResetByPeer'] } })) } } : s,
      ),
    }));
    const p = problems(c);
    expect(p).toEqual([
      expect.stringContaining('jobs[1] (example-fanout).steps[1] (ProcessParts).map.steps[0] (ProcessPart).retry.retryableErrors[0]: "TransientErorr"'),
      expect.stringContaining('retryableErrors[1]: "ConnectionResetByPeer"'),
    ]);
    expect(p[0]).toContain('did you mean "TransientError"?');
    expect(p[1]).not.toContain('did you mean');
    expect(p[1]).toContain("declare the job's errors module (errors: 'lambdas/jobs/example-fanout/errors.ts')");
  });

  test("a name from the job's errors module is accepted only for that job", () => {
    const c = editJob('example-fanout', (j) => editStep(j, 'ListParts', (s) => ({ ...s, retry: { ...s.retry, retryableErrors: ['ExternalApiUnavailableError'] } })));
    expect(problems(c)).toEqual([expect.stringContaining('jobs[1] (example-fanout).steps[0] (ListParts).retry.retryableErrors[0]')]);
  });

  test('an errors module that cannot be found or exports no error is refused', () => {
    const missing = editJob('example-api', (j) => ({ ...j, errors: 'lambdas/jobs/example-api/erors.ts' }));
    expect(problems(missing, { fileExists: (p) => !p.includes('erors') })).toEqual(expect.arrayContaining([expect.stringContaining('jobs[0] (example-api).errors: file "lambdas/jobs/example-api/erors.ts" does not exist')]));
    const empty = editJob('example-api', (j) => ({ ...j, errors: 'lambdas/jobs/example-api/errors.ts' }));
    expect(problems(empty, { loadModule: () => ({ notAnError: 1 }) })).toEqual(expect.arrayContaining([expect.stringContaining('exports no Error subclass')]));
  });

  test('declared names: Error subclasses by class and instance name, and an errorNames list for names libraries throw', () => {
    class Renamed extends Error {
      constructor(m: string) {
        super(m);
        this.name = 'RenamedOnInstance';
      }
    }
    class NeedsArgs extends Error {
      constructor(readonly o: { code: number }) {
        super(String(o.code));
      }
    }
    expect(declaredErrorNames({ Renamed, NeedsArgs, errorNames: ['ThrottlingException'], notAClass: () => 1 }).sort()).toEqual(['NeedsArgs', 'Renamed', 'RenamedOnInstance', 'ThrottlingException']);
    expect(PLATFORM_ERROR_NAMES).toEqual(expect.arrayContaining(['TransientError', 'PermanentError', 'Lambda.ServiceException']));
    expect(PLATFORM_ERROR_NAMES).not.toContain('TaskError');
  });

  test('near misses are suggested only when close', () => {
    expect(nearMiss('TransientEror', ['TransientError', 'PermanentError'])).toBe('TransientError');
    expect(nearMiss('Database', ['TransientError', 'PermanentError'])).toBeNull();
  });
});

describe('exclusiveBy must name a field of the params schema', () => {
  test('a typo fails synth naming the field, the near miss and the fields that exist', () => {
    const p = problems(editJob('example-fanout', (j) => ({ ...j, exclusiveBy: 'acount' })));
    expect(p).toEqual([expect.stringContaining('jobs[1] (example-fanout).exclusiveBy: "acount" is not a field of the params schema (lambdas/jobs/example-fanout/params.ts); did you mean "account"?')]);
    expect(p[0]).toContain('Fields: account, parts, failPart, failAttempts');
  });

  test('a nested field is reachable with a dotted path; a schema that is not an object cannot be checked', () => {
    const nested = { schema: z.object({ file: z.object({ path: z.string() }).optional() }) };
    const withSchema = (mod: unknown, exclusiveBy: string) =>
      problems(editJob('example-fanout', (j) => ({ ...j, exclusiveBy })), { loadModule: (p) => (p.endsWith('params.ts') ? mod : require(`../${p}`)) });
    expect(withSchema(nested, 'file.path')).toEqual([]);
    expect(withSchema(nested, 'file.name')).toEqual([expect.stringContaining('Fields: file, file.path')]);
    expect(withSchema({ schema: z.array(z.string()) }, 'account')).toEqual([expect.stringContaining('is not an object')]);
  });

  test('a params module without a zod schema, or with a bad version, is refused', () => {
    const p = problems(editJob('example-fanout', (j) => j), { loadModule: (p) => (p.endsWith('params.ts') ? { schema: {}, version: 0 } : require(`../${p}`)) });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringContaining('jobs[1] (example-fanout).params.schema: "lambdas/jobs/example-fanout/params.ts" must export `schema`'),
        expect.stringContaining('`version` must be an integer >= 1, got 0'),
      ]),
    );
  });

  test('the resolved job carries the schema version synth read', () => {
    const r = resolveConfig(fixtureConfig, { allJobs: true, loadModule: (p) => (p.endsWith('example-fanout/params.ts') ? { schema: z.object({ account: z.string() }), version: 3 } : require(`../${p}`)) });
    expect(r.jobs.map((j) => [j.name, j.params?.version])).toEqual([
      ['example-api', 1],
      ['example-fanout', 3],
    ]);
  });

  test('field paths walk optional, nullable, default and pipe wrappers', () => {
    expect(schemaFieldPaths(z.object({ a: z.string().optional(), b: z.object({ c: z.number() }).nullable(), d: z.string().default('x') }))).toEqual(['a', 'b', 'b.c', 'd']);
  });
});

describe('per-job time zone', () => {
  test('a job may set an IANA time zone; it defaults to the app zone', () => {
    const r = resolveConfig(editJob('example-api', (j) => ({ ...j, timeZone: 'Europe/Berlin' })), { allJobs: true });
    expect(r.jobs.map((j) => [j.name, j.timeZone])).toEqual([
      ['example-api', 'Europe/Berlin'],
      ['example-fanout', 'Asia/Tokyo'],
    ]);
  });

  test('a zone that is not IANA fails naming the field', () => {
    expect(problems(editJob('example-api', (j) => ({ ...j, timeZone: 'Europe/Berln' })))).toEqual([expect.stringContaining('jobs[0] (example-api).timeZone must be an IANA time zone')]);
  });
});

describe('vpcEndpoints', () => {
  const vpc = { subnetIds: ['subnet-0123456789abcdef0'], securityGroupIds: ['sg-0123456789abcdef0'] };
  const withVpcJob = (vpcEndpoints: AppConfig['vpcEndpoints']): AppConfig => ({ ...editJob('example-fanout', (j) => ({ ...j, producer: { ...j.producer, vpc } })), vpcEndpoints });

  test('ids are checked, each wrong field named', () => {
    const p = problems(
      withVpcJob({
        vpcId: 'vpc-1',
        subnets: [
          { subnetId: 'subnet-0123456789abcdef0', availabilityZone: 'ap-northeast-1a', routeTableId: 'rtb-x' },
          { subnetId: 'subnet-0123456789abcdef1', availabilityZone: 'ap-northeast-1a', routeTableId: 'rtb-0123456789abcdef0' },
        ],
        securityGroupIds: [],
        existing: ['sns'],
      }),
    );
    expect(p).toEqual([
      expect.stringContaining('vpcEndpoints.vpcId must be a VPC id'),
      expect.stringContaining('vpcEndpoints.securityGroupIds must list at least one id'),
      expect.stringContaining('vpcEndpoints.subnets[0].routeTableId: "rtb-x" is not an id'),
      expect.stringContaining('vpcEndpoints.subnets[1]: a second subnet in ap-northeast-1a'),
      expect.stringContaining('vpcEndpoints.existing: "sns" is not one of'),
    ]);
  });

  test('resolved only when a deployed job runs in a VPC', () => {
    const ok = { vpcId: 'vpc-0123456789abcdef0', subnets: [{ subnetId: 'subnet-0123456789abcdef0', availabilityZone: 'ap-northeast-1a', routeTableId: 'rtb-0123456789abcdef0' }], securityGroupIds: ['sg-0123456789abcdef0'] };
    expect(resolveConfig(withVpcJob(ok), { allJobs: true }).vpcEndpoints).toEqual({ ...ok, existing: [] });
    expect(resolveConfig({ ...fixtureConfig, vpcEndpoints: ok }, { allJobs: true }).vpcEndpoints).toBeNull();
  });
});
