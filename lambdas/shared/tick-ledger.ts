import { AttributeValue, ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';

/**
 * The tick ledger in the coordination table (lib/coordination-table.ts grantTickLedger): what makes
 * a redelivered, retried or re-run tick enqueue nothing twice and start nothing twice, and what
 * lets a crashed producer or starter resume. No params are stored here: ids and counters only.
 *
 * `tick#<job>#<tick>` (written by the producer):
 *   state `planning` | `planned` | `paused` (the job was paused at the tick: nothing planned; a later
 *   run of the tick, e.g. a backfill, claims and plans it like a new one); owner + leaseUntilMs while a producer plans it; planId, tasks,
 *   batches, batchSize (tasks per batch the plan was cut with: a retry cuts the same list the same
 *   way, whatever the deployment computes by then), rejected, rejectedDone; enqueued (batches of the plan already in the tick queue, a
 *   prefix); batchesDone (counted by the starters); replans (how often an operator re-opened the
 *   planned tick, {@link TickLedger.reopenTick}).
 * `batch#<job>#<tick>#<plan>#<index>` (written by the starters):
 *   total; cursor (every task before it is started and recorded); doneAbove (tasks after the cursor
 *   already started and recorded); done; owner + leaseUntilMs while a starter works on it.
 *
 * Leases are checked in the write conditions: DynamoDB TTL (`expiresAt`) only collects old items,
 * days late (AWS DynamoDB developer guide, "Working with expired items"). Each write that moves
 * progress is conditioned on still holding the lease, so a starter that lost it never overwrites
 * the one that took over.
 */

/** How long ledger items are kept: past the 14-day retention of the failed-invocations queue, so a tick re-run from there still finds its ledger. */
export const LEDGER_TTL_SECONDS = 35 * 86_400;
/**
 * How old a tick may be for a replan (days). A replan attempts every task of the tick again and
 * relies on Step Functions refusing names that exist; a name is unique for 90 days only (AWS Step
 * Functions API reference, "StartExecution"). It also needs the tick's ledger item, which expires
 * after {@link LEDGER_TTL_SECONDS} (TTL deletes an item some time after it expires, never before:
 * AWS DynamoDB developer guide, "Working with expired items"); without it the first plan's batch
 * items, if still there, would make the replan skip tasks. 30 days is inside both.
 */
export const REPLAN_MAX_AGE_DAYS = 30;
/** Entries kept in `doneAbove` at most; beyond, tasks are re-attempted (and answered as duplicates). */
export const MAX_DONE_ABOVE = 2_000;

/** The tick item as read. */
export interface TickItem {
  readonly state: 'planning' | 'planned' | 'paused';
  readonly owner: string | null;
  readonly leaseUntilMs: number;
  readonly planId: string | null;
  readonly tasks: number;
  readonly batches: number;
  /**
   * Tasks per batch the plan was cut with, fixed at planning (null on items written before it was
   * recorded). A resumed planning of the same plan reuses it, so the batches already in the tick
   * queue and the ones still to write are cut from one set of boundaries.
   */
  readonly batchSize: number | null;
  readonly rejected: number;
  readonly rejectedDone: boolean;
  readonly enqueued: number;
  readonly batchesDone: number;
  /** Times the planned tick was re-opened for a replan (0: never). Part of the plan id of its batches. */
  readonly replans: number;
}

/** The batch item as read. */
export interface BatchItem {
  readonly total: number;
  readonly cursor: number;
  readonly doneAbove: ReadonlyArray<number>;
  readonly done: boolean;
  readonly owner: string | null;
  readonly leaseUntilMs: number;
  /** Claims so far (this one included). */
  readonly claims: number;
}

/** Result of claiming a tick. */
export type TickClaim = { readonly claimed: true; readonly item: TickItem } | { readonly claimed: false; readonly reason: 'planned' | 'busy'; readonly item: TickItem | null };
/** Result of claiming a batch. */
export type BatchClaim = { readonly claimed: true; readonly item: BatchItem } | { readonly claimed: false; readonly reason: 'done' | 'busy'; readonly item: BatchItem | null };

/** The starter or producer no longer holds the lease it wrote under (it ran past it; another took over). */
export class LeaseLostError extends Error {
  constructor(key: string) {
    super(`lost the ledger lease of ${key.split('#').slice(0, 3).join('#')}: another invocation took over`);
    this.name = 'LeaseLostError';
  }
}

const n = (v: AttributeValue | undefined, d = 0): number => (v?.N !== undefined ? Number(v.N) : d);
const s = (v: AttributeValue | undefined): string | null => v?.S ?? null;
const isConditionFailure = (e: unknown): boolean => e instanceof ConditionalCheckFailedException || (e as Error)?.name === 'ConditionalCheckFailedException';

function tickItemOf(a: Record<string, AttributeValue>): TickItem {
  return {
    state: s(a.state) === 'planned' ? 'planned' : s(a.state) === 'paused' ? 'paused' : 'planning',
    owner: s(a.owner),
    leaseUntilMs: n(a.leaseUntilMs),
    planId: s(a.planId),
    tasks: n(a.tasks),
    batches: n(a.batches),
    batchSize: a.batchSize?.N !== undefined ? Number(a.batchSize.N) : null,
    rejected: n(a.rejected),
    rejectedDone: a.rejectedDone?.BOOL === true,
    enqueued: n(a.enqueued),
    batchesDone: n(a.batchesDone),
    replans: n(a.replans),
  };
}

function batchItemOf(a: Record<string, AttributeValue>): BatchItem {
  return {
    total: n(a.total),
    cursor: n(a.cursor),
    doneAbove: (a.doneAbove?.L ?? []).map((x) => n(x)),
    done: a.done?.BOOL === true,
    owner: s(a.owner),
    leaseUntilMs: n(a.leaseUntilMs),
    claims: n(a.claims),
  };
}

const NAMES = { '#state': 'state', '#owner': 'owner', '#total': 'total', '#cursor': 'cursor', '#done': 'done' };

/** The tick ledger over one DynamoDB table (key `pk`). */
export class TickLedger {
  constructor(
    private readonly ddb: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  private ttl(): AttributeValue {
    return { N: String(Math.floor(this.now() / 1000) + LEDGER_TTL_SECONDS) };
  }

  private async update(key: string, input: { update: string; condition?: string; values?: Record<string, AttributeValue>; names?: Record<string, string> }): Promise<Record<string, AttributeValue> | null> {
    // DynamoDB refuses names and values an expression does not use.
    const used = `${input.update} ${input.condition ?? ''}`;
    const names = Object.fromEntries(Object.entries(input.names ?? NAMES).filter(([k]) => new RegExp(`${k}\\b`).test(used)));
    try {
      const out = await this.ddb.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: key } },
          UpdateExpression: input.update,
          ConditionExpression: input.condition,
          ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
          ...(input.values && Object.keys(input.values).length ? { ExpressionAttributeValues: input.values } : {}),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes ?? {};
    } catch (e) {
      if (isConditionFailure(e)) return null;
      throw e;
    }
  }

  private async get(key: string): Promise<Record<string, AttributeValue> | null> {
    const out = await this.ddb.send(new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: key } }, ConsistentRead: true }));
    return out.Item ?? null;
  }

  /** The tick item, or null. */
  async getTick(key: string): Promise<TickItem | null> {
    const a = await this.get(key);
    return a ? tickItemOf(a) : null;
  }

  /** The batch item, or null. */
  async getBatch(key: string): Promise<BatchItem | null> {
    const a = await this.get(key);
    return a ? batchItemOf(a) : null;
  }

  /**
   * Takes the tick for planning until `leaseUntilMs`: succeeds when the tick is new, or not planned
   * yet and its lease expired or is already `owner`'s. Otherwise says whether it is planned or busy.
   */
  async claimTick(key: string, owner: string, leaseUntilMs: number): Promise<TickClaim> {
    const a = await this.update(key, {
      update:
        'SET #state = :planning, #owner = :me, leaseUntilMs = :until, enqueued = if_not_exists(enqueued, :zero), batchesDone = if_not_exists(batchesDone, :zero), createdAt = if_not_exists(createdAt, :now), expiresAt = if_not_exists(expiresAt, :ttl)',
      condition: 'attribute_not_exists(pk) OR (#state <> :planned AND (attribute_not_exists(leaseUntilMs) OR leaseUntilMs < :now OR #owner = :me))',
      values: { ':planning': { S: 'planning' }, ':planned': { S: 'planned' }, ':me': { S: owner }, ':until': { N: String(leaseUntilMs) }, ':zero': { N: '0' }, ':now': { N: String(this.now()) }, ':ttl': this.ttl() },
    });
    if (a) return { claimed: true, item: tickItemOf(a) };
    const item = await this.getTick(key);
    return { claimed: false, reason: item?.state === 'planned' ? 'planned' : 'busy', item };
  }

  /**
   * Records that the tick fired while its job was paused: a new item in state `paused` (or the
   * same one again, for a redelivery). A tick that is planned or being planned is left as it is
   * (false): a pause does not undo work. A `paused` item holds no lease, so {@link claimTick} takes
   * it like a new tick when the tick is run later (backfill).
   */
  async markPaused(key: string): Promise<boolean> {
    const a = await this.update(key, {
      update: 'SET #state = :paused, pausedAt = :now, createdAt = if_not_exists(createdAt, :now), expiresAt = if_not_exists(expiresAt, :ttl)',
      condition: 'attribute_not_exists(pk) OR #state = :paused',
      values: { ':paused': { S: 'paused' }, ':now': { N: String(this.now()) }, ':ttl': this.ttl() },
    });
    return a !== null;
  }

  /**
   * Re-opens a PLANNED tick for an operator's replan (docs/big-ticks.md, "Re-planning a tick"): the
   * tick goes back to `planning` under `owner`'s lease with no plan, nothing enqueued, its rejected
   * specs not yet handled and `replans` + 1, so the planning that follows makes batches under a new
   * plan id (their ledger items are new: the starters attempt every task again, and the tasks
   * already started are answered ExecutionAlreadyExists). Only a planned tick is re-opened: one
   * still being planned (a live lease) is `busy`, and one whose planning failed half-way resumes
   * through {@link claimTick} as any retry does. Returns the claim as claimTick does.
   */
  async reopenTick(key: string, owner: string, leaseUntilMs: number): Promise<TickClaim> {
    const a = await this.update(key, {
      update:
        'SET #state = :planning, #owner = :me, leaseUntilMs = :until, enqueued = :zero, batchesDone = :zero, rejectedDone = :f, reopenedAt = :now, expiresAt = :ttl ADD replans :one REMOVE planId, plannedAt, batchSize',
      // Planned items hold no lease (markPlanned removes it), so the state alone decides.
      condition: '#state = :planned',
      values: {
        ':planning': { S: 'planning' },
        ':planned': { S: 'planned' },
        ':me': { S: owner },
        ':until': { N: String(leaseUntilMs) },
        ':zero': { N: '0' },
        ':f': { BOOL: false },
        ':now': { N: String(this.now()) },
        ':ttl': this.ttl(),
        ':one': { N: '1' },
      },
    });
    if (a) return { claimed: true, item: tickItemOf(a) };
    const item = await this.getTick(key);
    return { claimed: false, reason: item?.state === 'planned' ? 'planned' : 'busy', item };
  }

  /** Records the plan (with the batch size it was cut with); a plan other than the recorded one starts enqueueing from 0 again. */
  async setPlan(key: string, owner: string, plan: { planId: string; tasks: number; batches: number; batchSize: number; rejected: number }, resetEnqueued: boolean): Promise<void> {
    const ok = await this.update(key, {
      update: `SET planId = :plan, tasks = :tasks, batches = :batches, batchSize = :size, rejected = :rejected${resetEnqueued ? ', enqueued = :zero' : ''}`,
      condition: '#owner = :me',
      values: {
        ':plan': { S: plan.planId },
        ':tasks': { N: String(plan.tasks) },
        ':batches': { N: String(plan.batches) },
        ':size': { N: String(plan.batchSize) },
        ':rejected': { N: String(plan.rejected) },
        ':me': { S: owner },
        ...(resetEnqueued ? { ':zero': { N: '0' } } : {}),
      },
    });
    if (!ok) throw new LeaseLostError(key);
  }

  /** The tick's rejected specs are in the quarantine and recorded. */
  async markRejectedDone(key: string, owner: string): Promise<void> {
    const ok = await this.update(key, { update: 'SET rejectedDone = :t', condition: '#owner = :me', values: { ':t': { BOOL: true }, ':me': { S: owner } } });
    if (!ok) throw new LeaseLostError(key);
  }

  /** The first `enqueued` batches of the plan are in the tick queue. */
  async setEnqueued(key: string, owner: string, enqueued: number): Promise<void> {
    const ok = await this.update(key, { update: 'SET enqueued = :n', condition: '#owner = :me', values: { ':n': { N: String(enqueued) }, ':me': { S: owner } } });
    if (!ok) throw new LeaseLostError(key);
  }

  /** Planning is complete: every batch is enqueued. A later delivery of the tick does nothing. */
  async markPlanned(key: string, owner: string): Promise<void> {
    const ok = await this.update(key, {
      update: 'SET #state = :planned, plannedAt = :now REMOVE #owner, leaseUntilMs',
      condition: '#owner = :me',
      values: { ':planned': { S: 'planned' }, ':now': { N: String(this.now()) }, ':me': { S: owner } },
    });
    if (!ok) throw new LeaseLostError(key);
  }

  /** Gives a tick's planning lease back (best effort, after a failure) so Lambda's retry can plan at once. */
  async releaseTick(key: string, owner: string): Promise<void> {
    await this.update(key, { update: 'REMOVE #owner, leaseUntilMs', condition: '#owner = :me', values: { ':me': { S: owner } } });
  }

  /**
   * Takes a batch until `leaseUntilMs`: succeeds when the batch is new, or not done and its lease
   * expired or is already `owner`'s. Otherwise says whether it is done or busy.
   */
  async claimBatch(key: string, owner: string, leaseUntilMs: number, total: number): Promise<BatchClaim> {
    const a = await this.update(key, {
      update:
        'SET #owner = :me, leaseUntilMs = :until, #total = if_not_exists(#total, :total), #cursor = if_not_exists(#cursor, :zero), #done = if_not_exists(#done, :f), expiresAt = if_not_exists(expiresAt, :ttl) ADD claims :one',
      condition: 'attribute_not_exists(pk) OR (#done = :f AND (attribute_not_exists(leaseUntilMs) OR leaseUntilMs < :now OR #owner = :me))',
      values: { ':me': { S: owner }, ':until': { N: String(leaseUntilMs) }, ':total': { N: String(total) }, ':zero': { N: '0' }, ':f': { BOOL: false }, ':ttl': this.ttl(), ':one': { N: '1' }, ':now': { N: String(this.now()) } },
    });
    if (a) return { claimed: true, item: batchItemOf(a) };
    const item = await this.getBatch(key);
    return { claimed: false, reason: item?.done ? 'done' : 'busy', item };
  }

  /** Saves progress under the lease. Returns false if the lease was lost. */
  async checkpointBatch(key: string, owner: string, cursor: number, doneAbove: ReadonlyArray<number>): Promise<boolean> {
    const a = await this.update(key, {
      update: 'SET #cursor = :c, doneAbove = :above',
      condition: '#owner = :me',
      values: { ':c': { N: String(cursor) }, ':above': { L: doneAbove.slice(0, MAX_DONE_ABOVE).map((i) => ({ N: String(i) })) }, ':me': { S: owner } },
    });
    return a !== null;
  }

  /** Saves progress and gives the lease back (the starter hands the rest of the batch on). */
  async releaseBatch(key: string, owner: string, cursor: number, doneAbove: ReadonlyArray<number>): Promise<boolean> {
    const a = await this.update(key, {
      update: 'SET #cursor = :c, doneAbove = :above REMOVE #owner, leaseUntilMs',
      condition: '#owner = :me',
      values: { ':c': { N: String(cursor) }, ':above': { L: doneAbove.slice(0, MAX_DONE_ABOVE).map((i) => ({ N: String(i) })) }, ':me': { S: owner } },
    });
    return a !== null;
  }

  /**
   * Marks the batch done (once) and counts it on its tick. Returns false if the batch was not ours
   * to complete (lease lost), else the tick's batches done and planned after this one (null if the
   * tick item is gone).
   */
  async completeBatch(key: string, owner: string, tickKey: string): Promise<false | { batchesDone: number; batches: number } | null> {
    const a = await this.update(key, {
      update: 'SET #done = :t, #cursor = #total, doneAbove = :empty, completedAt = :now REMOVE #owner, leaseUntilMs',
      condition: '#owner = :me AND #done = :f',
      values: { ':t': { BOOL: true }, ':f': { BOOL: false }, ':empty': { L: [] }, ':now': { N: String(this.now()) }, ':me': { S: owner } },
    });
    if (!a) return false;
    // Informational (the dashboard's "ticks completed"): not in the same transaction as the batch.
    const t = await this.update(tickKey, { update: 'ADD batchesDone :one', condition: 'attribute_exists(pk)', values: { ':one': { N: '1' } } });
    return t ? { batchesDone: n(t.batchesDone), batches: n(t.batches) } : null;
  }
}
