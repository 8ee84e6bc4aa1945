import { AttributeValue, ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';

/**
 * The capture mark: one item per ended execution in the coordination table,
 * `capture#<execution ARN>`, that makes capturing an execution twice (a duplicated status-change
 * event, the event and the reconciler, Lambda's retry of a capture) spool it once.
 *
 * States: `claimed` (owner + leaseUntilMs: a capture is working on it), `sent` (the spool message is
 * written: messageId), `done` (outcome recorded). A capture claims the mark with a conditional
 * write (new, or claimed under an expired lease, or `sent` under an expired lease: the previous
 * capture died after its send), sends, marks `sent`, writes the worker record, marks `done`.
 *
 * The one window left: a capture that dies between SendMessage and the `sent` mark leaves a spool
 * message and a `claimed` mark; the next capture after the lease sends again. SQS has no
 * transaction with DynamoDB; the second message replays under the same deterministic execution
 * name, which Step Functions refuses (reprocess counts it `alreadyStarted`). Ids only: no params.
 */

/** Item key prefix (the LeadingKeys grant of lib/coordination-table.ts grantCaptureMarks). */
export const CAPTURE_MARK_PREFIX = 'capture#';
/** How long a mark is kept: longer than the reconciler ever looks back. */
export const CAPTURE_MARK_TTL_SECONDS = 35 * 86_400;

/**
 * Key of an execution's mark. A redriven execution ends again and must be captured again: each
 * redrive has its own mark (`redriveCount` from DescribeExecution / ListExecutions).
 */
export function captureMarkKey(executionArn: string, redriveCount = 0): string {
  return redriveCount > 0 ? `${CAPTURE_MARK_PREFIX}${executionArn}#r${redriveCount}` : `${CAPTURE_MARK_PREFIX}${executionArn}`;
}

/** The mark as read. */
export interface CaptureMark {
  readonly state: 'claimed' | 'sent' | 'done';
  readonly owner: string | null;
  readonly leaseUntilMs: number;
  readonly messageId: string | null;
  readonly outcome: string | null;
}

/** Result of a claim. */
export type MarkClaim =
  | { readonly claimed: true; readonly resumeSent: false }
  /** The previous capture sent the spool message and died before finishing: do not send again. */
  | { readonly claimed: true; readonly resumeSent: true; readonly messageId: string | null }
  | { readonly claimed: false; readonly reason: 'done' | 'busy'; readonly mark: CaptureMark | null };

const isConditionFailure = (e: unknown): boolean => e instanceof ConditionalCheckFailedException || (e as Error)?.name === 'ConditionalCheckFailedException';

function markOf(a: Record<string, AttributeValue>): CaptureMark {
  const st = a.state?.S;
  return {
    state: st === 'done' ? 'done' : st === 'sent' ? 'sent' : 'claimed',
    owner: a.owner?.S ?? null,
    leaseUntilMs: a.leaseUntilMs?.N !== undefined ? Number(a.leaseUntilMs.N) : 0,
    messageId: a.messageId?.S ?? null,
    outcome: a.outcome?.S ?? null,
  };
}

/** Capture marks over the coordination table. */
export class CaptureMarks {
  constructor(
    private readonly ddb: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The mark, or null. */
  async get(executionArn: string, redriveCount = 0): Promise<CaptureMark | null> {
    const out = await this.ddb.send(new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: captureMarkKey(executionArn, redriveCount) } }, ConsistentRead: true }));
    return out?.Item ? markOf(out.Item) : null;
  }

  /** Takes the execution for `owner` until `leaseUntilMs` (see the module's states). */
  async claim(executionArn: string, owner: string, leaseUntilMs: number, redriveCount = 0): Promise<MarkClaim> {
    const nowMs = this.now();
    try {
      const out = await this.ddb.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: captureMarkKey(executionArn, redriveCount) } },
          UpdateExpression: 'SET #state = if_not_exists(#state, :claimed), #owner = :me, leaseUntilMs = :until, claimedAt = :now, expiresAt = if_not_exists(expiresAt, :ttl) ADD claims :one',
          ConditionExpression: 'attribute_not_exists(pk) OR (#state <> :done AND (leaseUntilMs < :now OR #owner = :me))',
          ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
          ExpressionAttributeValues: {
            ':claimed': { S: 'claimed' },
            ':done': { S: 'done' },
            ':me': { S: owner },
            ':until': { N: String(leaseUntilMs) },
            ':now': { N: String(nowMs) },
            ':ttl': { N: String(Math.floor(nowMs / 1000) + CAPTURE_MARK_TTL_SECONDS) },
            ':one': { N: '1' },
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const m = markOf(out?.Attributes ?? {});
      return m.state === 'sent' ? { claimed: true, resumeSent: true, messageId: m.messageId } : { claimed: true, resumeSent: false };
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      const mark = await this.get(executionArn, redriveCount);
      return { claimed: false, reason: mark?.state === 'done' ? 'done' : 'busy', mark };
    }
  }

  /** The spool message is written (under the owner's claim). */
  async markSent(executionArn: string, owner: string, messageId: string | null, redriveCount = 0): Promise<void> {
    await this.set(captureMarkKey(executionArn, redriveCount), owner, 'SET #state = :sent, messageId = :mid', { ':sent': { S: 'sent' }, ':mid': { S: messageId ?? '' } });
  }

  /** The capture is complete: later captures of the execution do nothing. */
  async markDone(executionArn: string, owner: string, outcome: string, redriveCount = 0): Promise<void> {
    await this.set(captureMarkKey(executionArn, redriveCount), owner, 'SET #state = :done, outcome = :outcome, doneAt = :now REMOVE leaseUntilMs', {
      ':done': { S: 'done' },
      ':outcome': { S: outcome },
      ':now': { N: String(this.now()) },
    });
  }

  private async set(key: string, owner: string, update: string, values: Record<string, AttributeValue>): Promise<void> {
    // Conditioned on the owner: a capture that outlived its lease must not overwrite its successor.
    // Losing it is harmless here: the successor finishes the same capture.
    try {
      await this.ddb.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: key } },
          UpdateExpression: update,
          ConditionExpression: '#owner = :me',
          ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
          ExpressionAttributeValues: { ...values, ':me': { S: owner } },
        }),
      );
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
  }
}
