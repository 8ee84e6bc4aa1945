import { runCli } from '../../cli/main';
import { fixtureConfig } from '../support/fixture-config';
import { sandboxConfig } from './sandbox-config';

/** The endpoints point nowhere: a command that reached AWS would fail with a network error, not a usage error. */
const env = { AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9', AWS_ENDPOINT_URL_CLOUDFORMATION: 'http://127.0.0.1:9', AWS_REGION: 'us-east-1' };

async function run(argv: string[], config = sandboxConfig): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runCli(argv, { out: (s) => void (out += s), err: (s) => void (out += s) }, { config, env });
  return { code, out };
}

test('prove refuses a stage without sandbox: true, before any AWS call, with exit 2', async () => {
  const { code, out } = await run(['prove', '--stage', 'dev'], fixtureConfig);
  expect(code).toBe(2);
  expect(out).toMatch(/Stage dev is not a sandbox/);
  expect(out).toMatch(/sandbox: true/);
});

test('prove refuses an unknown scenario and names the known ones', async () => {
  const { code, out } = await run(['prove', '--stage', 'local', '--scenario', 'succeed,explode']);
  expect(code).toBe(2);
  expect(out).toMatch(/Unknown scenario explode/);
  expect(out).toMatch(/succeed, transient, replay, stop, timeout, hold, duplicate, oversize, lost-tasks, alarms/);
});
