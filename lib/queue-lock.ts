import { Lazy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { assertExact } from './principals';

/** Who may use a queue that holds task params. The role lists are read at synth. */
export interface ParamsQueueAccess {
  /** Roles that send to the queue (a Lambda on-failure destination sends with the function's role). */
  readonly senders: () => ReadonlyArray<iam.IRole>;
  /** Roles that receive, delete and change visibility. */
  readonly consumers: () => ReadonlyArray<iam.IRole>;
  /** Reader role ARNs (config, exact): they may receive (look), never delete. */
  readonly readerRoleArnPatterns: ReadonlyArray<string>;
}

/** The role ARNs of `roles`, each once (a role granted twice is recorded twice). */
function uniqueArns(scope: sqs.IQueue, roles: ReadonlyArray<iam.IRole>): string[] {
  const stack = Stack.of(scope);
  const seen = new Set<string>();
  return roles
    .filter((r) => {
      const k = JSON.stringify(stack.resolve(r.roleArn));
      return seen.has(k) ? false : (seen.add(k), true);
    })
    .map((r) => r.roleArn);
}

/**
 * `StringNotEquals aws:PrincipalArn` (exact ARNs: no wildcard a role created later could match)
 * over a list read at synth; with an empty list the condition is left out, so the deny covers
 * every IAM principal.
 */
function notAmong(produce: () => string[]): Record<string, unknown> {
  return {
    StringNotEquals: Lazy.any({ produce: () => (produce().length > 0 ? { 'aws:PrincipalArn': produce() } : undefined) }),
    // A service principal has no aws:PrincipalArn; services get nothing from this policy unless a
    // statement names them, so they are left out of the deny rather than matched by it.
    BoolIfExists: { 'aws:PrincipalIsAWSService': 'false' },
  };
}

/**
 * Locks a queue that holds task params to the roles that use it. Its policy denies:
 * - sqs:ReceiveMessage to every principal that is not a consumer or a reader role;
 * - sqs:DeleteMessage, sqs:ChangeMessageVisibility and sqs:PurgeQueue to every principal that is
 *   not a consumer (readers may look, never take a message away);
 * - sqs:SendMessage to every principal that is not a sender;
 * and lets same-account reader roles receive by this policy alone (their roles live outside the
 * stack). Keep the queue TLS-only (`enforceSSL`) and encrypted with the params key, whose policy
 * locks decryption the same way. An account administrator's IAM rights do not reach past these
 * denies; rewriting the policy does (docs/security.md).
 */
export function lockParamsQueue(queue: sqs.Queue, access: ParamsQueueAccess): void {
  const readers = assertExact('lockParamsQueue: readerRoleArnPatterns', access.readerRoleArnPatterns);
  const deny = (sid: string, actions: string[], exempt: () => string[]) =>
    queue.addToResourcePolicy(
      new iam.PolicyStatement({ sid, effect: iam.Effect.DENY, principals: [new iam.AnyPrincipal()], actions, resources: [queue.queueArn], conditions: notAmong(exempt) }),
    );
  deny('DenyReceiveExceptConsumersAndReaders', ['sqs:ReceiveMessage'], () => [...uniqueArns(queue, access.consumers()), ...readers]);
  deny('DenyDeleteExceptConsumers', ['sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:PurgeQueue'], () => uniqueArns(queue, access.consumers()));
  deny('DenySendExceptSenders', ['sqs:SendMessage'], () => uniqueArns(queue, access.senders()));
  if (readers.length > 0) {
    queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowReaderRolesReceive',
        principals: [new iam.AnyPrincipal()],
        actions: ['sqs:ReceiveMessage'],
        resources: [queue.queueArn],
        // Same-account reader roles only, by their exact ARNs.
        conditions: { StringEquals: { 'aws:PrincipalArn': readers, 'aws:PrincipalAccount': Stack.of(queue).account } },
      }),
    );
  }
}
