import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { synthesizeApp } from '../local/offline-day/app-model';
import { functionTimeoutSeconds, LAMBDA_DEFAULT_TIMEOUT_SECONDS, lambdaContext } from '../local/offline-day/lambda-context';

/** The Lambda context the offline run gives its handlers (local/offline-day/lambda-context.ts). */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the offline Lambda context', () => {
  const model = synthesizeApp(resolveConfig(fixtureConfig, { allJobs: true }), resolve(__dirname, '..'));
  const functions = Object.entries(model.template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
  const stepFunction = (step: string): string => {
    const found = functions.find(([, r]) => (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.STEP_NAME === step);
    if (!found) throw new Error(`no function of step ${step} in the template`);
    return found[0];
  };

  it("counts down from each step function's configured timeout (the config's timeoutSeconds, through the template)", () => {
    expect(functionTimeoutSeconds(model, stepFunction('CallApi'))).toBe(20);
    expect(functionTimeoutSeconds(model, stepFunction('Fetch'))).toBe(30);
    const ctx = lambdaContext({ logicalId: stepFunction('CallApi'), functionArn: 'arn:aws:lambda:ap-northeast-1:000000000000:function:x', timeoutSeconds: 20 });
    expect(ctx.getRemainingTimeInMillis()).toBeGreaterThan(19_000);
    expect(ctx.getRemainingTimeInMillis()).toBeLessThanOrEqual(20_000);
  });

  it("uses Lambda's documented default (3 s) for a function without Timeout, and refuses what is not a function", () => {
    const bare = { template: { Resources: { Fn: { Type: 'AWS::Lambda::Function', Properties: {} }, Q: { Type: 'AWS::SQS::Queue' } } } };
    expect(functionTimeoutSeconds(bare, 'Fn')).toBe(LAMBDA_DEFAULT_TIMEOUT_SECONDS);
    expect(() => functionTimeoutSeconds(bare, 'Q')).toThrow(/not a Lambda function/);
  });

  it('runs out in real time and stops at zero, each invocation with its own clock and request id', async () => {
    const a = lambdaContext({ logicalId: 'Fn', functionArn: 'arn', timeoutSeconds: 0.05 });
    await sleep(20);
    const b = lambdaContext({ logicalId: 'Fn', functionArn: 'arn', timeoutSeconds: 0.05 });
    expect(a.getRemainingTimeInMillis()).toBeLessThan(b.getRemainingTimeInMillis());
    expect(a.awsRequestId).not.toBe(b.awsRequestId);
    await sleep(80);
    expect(a.getRemainingTimeInMillis()).toBe(0);
  });
});
