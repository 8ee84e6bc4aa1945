import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { invokeErrorJson, invokeErrorLogLine } from '../local/lambda-runtime-log';
import { LambdaStandin, startLambdaStandin } from '../local/lambda-standin';

/**
 * The runtime's line for an uncaught error, as the Node.js runtime interface client formats it
 * (aws/aws-lambda-nodejs-runtime-interface-client, src/Errors.js `toFormatted`): errorType,
 * errorMessage, code, every enumerable own property (nested errors expanded), the stack as lines.
 */
describe('the Lambda runtime log line of an uncaught error', () => {
  test('holds type, message, code, enumerable properties and the stack lines', () => {
    const inner = new RangeError('inner');
    const e = Object.assign(new TypeError('bad input'), { code: 'E_BAD', detail: { field: 'x' }, inner });
    const j = JSON.parse(invokeErrorJson(e)) as Record<string, unknown>;
    expect(j).toMatchObject({ errorType: 'TypeError', errorMessage: 'bad input', code: 'E_BAD', detail: { field: 'x' }, inner: { errorType: 'RangeError', errorMessage: 'inner' } });
    expect((j.stack as string[])[0]).toBe('TypeError: bad input');
    expect(invokeErrorLogLine(e, 'req-1', new Date('2026-01-01T00:00:00Z'))).toMatch(/^2026-01-01T00:00:00\.000Z\treq-1\tERROR\tInvoke Error \t\{"errorType":"TypeError"/);
  });

  describe('the Lambda stand-in writes it for a handler that throws', () => {
    let standin: LambdaStandin;
    const lines: string[] = [];
    beforeAll(async () => {
      standin = await startLambdaStandin('us-east-1', {
        thrower: {
          load: async () => async () => {
            throw Object.assign(new Error('no order ord-1'), { orderId: 'ord-1' });
          },
          environment: {},
          runtimeLog: (l) => lines.push(l),
        },
      });
    });
    afterAll(() => standin.stop());

    test('before answering with the error payload', async () => {
      const client = new LambdaClient({ region: 'us-east-1', endpoint: standin.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
      const out = await client.send(new InvokeCommand({ FunctionName: 'thrower', Payload: Buffer.from('{}') }));
      client.destroy();
      expect(out.FunctionError).toBe('Unhandled');
      expect(JSON.parse(Buffer.from(out.Payload!).toString('utf8'))).toMatchObject({ errorType: 'Error', errorMessage: 'no order ord-1' });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/\tstandin-\d+\tERROR\tInvoke Error \t/);
      expect(JSON.parse(lines[0].split('\t').pop()!)).toMatchObject({ errorType: 'Error', errorMessage: 'no order ord-1', orderId: 'ord-1' });
    });
  });
});
