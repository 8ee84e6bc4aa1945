import { CfnElement } from 'aws-cdk-lib';
import type { SynthesizedApp } from './app-model';

/**
 * Queues of the synthesized app whose messages are NOT encrypted with the params key (SQS-managed
 * SSE or none): their bodies are outside the read lock (SSE-SQS decrypts for anyone allowed
 * sqs:ReceiveMessage), so the canary searches them like any other sink outside
 * (local/offline-day/canary.ts). Queue names in the offline run are their logical ids.
 */
export function queuesOutsideLock(model: Pick<SynthesizedApp, 'stack' | 'template'>): string[] {
  const keyId = model.stack.getLogicalId(model.stack.paramsKey.key.node.defaultChild as CfnElement);
  return Object.entries(model.template.Resources)
    .filter(([, r]) => r.Type === 'AWS::SQS::Queue')
    .filter(([, r]) => JSON.stringify((r.Properties as { KmsMasterKeyId?: unknown } | undefined)?.KmsMasterKeyId ?? null) !== JSON.stringify({ 'Fn::GetAtt': [keyId, 'Arn'] }))
    .map(([id]) => id);
}
