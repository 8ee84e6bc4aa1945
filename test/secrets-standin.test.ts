import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsStandin, startSecretsStandin } from '../local/secrets-standin';

/**
 * The SSM / Secrets Manager stand-in of the offline runs, through the real SDK clients: values as
 * stubbed, AWS's errors for a name nobody is granted and for a granted name with no value.
 */
let standin: SecretsStandin;
let ssm: SSMClient;
let sm: SecretsManagerClient;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

beforeAll(async () => {
  standin = await startSecretsStandin({
    region: 'ap-northeast-1',
    ssmParameters: { '/orders/token': 't-1' },
    secrets: { 'orders/key': 'k-1' },
    granted: { ssmParameters: ['/orders/token', '/orders/unset'], secretsManager: ['orders/key', 'orders/unset'] },
  });
  ssm = new SSMClient({ region: 'ap-northeast-1', endpoint: standin.endpoint, credentials });
  sm = new SecretsManagerClient({ region: 'ap-northeast-1', endpoint: standin.endpoint, credentials });
});
afterAll(async () => {
  ssm.destroy();
  sm.destroy();
  await standin.stop();
});

test('serves a stubbed parameter and secret (by name or by ARN)', async () => {
  const p = await ssm.send(new GetParameterCommand({ Name: '/orders/token', WithDecryption: true }));
  expect(p.Parameter).toMatchObject({ Name: '/orders/token', Value: 't-1', Type: 'SecureString' });
  expect((await sm.send(new GetSecretValueCommand({ SecretId: 'orders/key' }))).SecretString).toBe('k-1');
  expect((await sm.send(new GetSecretValueCommand({ SecretId: 'arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:orders/key-AbC123' }))).SecretString).toBe('k-1');
});

test('a granted name with no value: ParameterNotFound / ResourceNotFoundException, as AWS answers a missing one', async () => {
  await expect(ssm.send(new GetParameterCommand({ Name: '/orders/unset' }))).rejects.toMatchObject({ name: 'ParameterNotFound' });
  await expect(sm.send(new GetSecretValueCommand({ SecretId: 'orders/unset' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
});

test('a name no function is granted: AccessDeniedException, as IAM denies a role without the grant', async () => {
  await expect(ssm.send(new GetParameterCommand({ Name: '/payments/token' }))).rejects.toMatchObject({ name: 'AccessDeniedException' });
  await expect(sm.send(new GetSecretValueCommand({ SecretId: 'payments/key' }))).rejects.toMatchObject({ name: 'AccessDeniedException' });
  expect(standin.reads).toEqual(
    expect.arrayContaining(['ssm:/orders/token:ok', 'ssm:/orders/unset:missing', 'ssm:/payments/token:denied', 'secretsmanager:orders/key:ok', 'secretsmanager:orders/unset:missing', 'secretsmanager:payments/key:denied']),
  );
});

test('lambdas/shared/secrets.ts reads through it with the standard endpoint variables (Powertools Parameters, real clients)', async () => {
  const saved = { ...process.env };
  Object.assign(process.env, { AWS_ENDPOINT_URL_SSM: standin.endpoint, AWS_ENDPOINT_URL_SECRETS_MANAGER: standin.endpoint, AWS_REGION: 'ap-northeast-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' });
  try {
    // Loaded here so Powertools builds its clients with these variables (as at a Lambda cold start).
    const { getParameterValue, getSecretValue } = await import('../lambdas/shared/secrets');
    expect(await getParameterValue('/orders/token')).toBe('t-1');
    expect(await getSecretValue('orders/key')).toBe('k-1');
    await expect(getParameterValue('/orders/unset')).rejects.toThrow();
  } finally {
    process.env = saved;
  }
});
