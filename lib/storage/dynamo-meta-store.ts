// MetaStore on one DynamoDB table (string pk HASH, string sk RANGE; see aws-resources.ts).
// Conditional writes ask for ReturnValuesOnConditionCheckFailure=ALL_OLD, so a failed
// condition hands the caller the current item without a second read (Powertools style).

import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type ReturnConsumedCapacity,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { ConditionFailedError, StorageError, ThrottledError, TransactionConflictError } from '../errors.js';
import { sdkError, wrapAwsError } from './aws-errors.js';
import {
  conditionExpression,
  ExpressionContext,
  inRange,
  marshalItem,
  marshalKey,
  sortKeyCondition,
  sortKeyRange,
  unmarshalItem,
  updateExpression,
} from './dynamo-marshal.js';
import { AWS_ON_DEMAND_PRICES, itemInlineBreakEven } from './item-inline-cost.js';
import { attributesSize } from './item-size.js';
import type { ItemLife, MetaItem, MetaKey, MetaStore, MetaStoreLimits, MetaStoreTraits, QueryOptions, QueryPage, WriteOp } from './ports.js';
import { stripBinary } from './strip-binary.js';

/** DynamoDB bills writes per started 1 KB of item. */
const WRITE_UNIT_BYTES = 1024;

/**
 * On-demand DynamoDB: writes billed per 1 KB write unit, transactional ones twice. Inline
 * commit bytes are billed in write units three times (the head, the commit page, its delete at
 * flush); a write-ahead object costs a flat S3 PUT plus a GET at flush. Measured end to end
 * with bench:cost (produce, flush, consume): 2 KiB records are cheaper inline, 3 KiB ones
 * written ahead (bench/RESULTS.md), hence 2.5 KiB — for head-mode topics (design note 0003).
 */
export const DYNAMODB_TRAITS: MetaStoreTraits = Object.freeze({
  sizeOf: attributesSize,
  writeUnitBytes: WRITE_UNIT_BYTES,
  transactionsCostDouble: true,
  inlineMaxBytes: 2560,
  // Items mode writes inline bytes once (design note 0010), so its break-even is higher, and is
  // decided on the item as stored: 8 KB for a 7-day topic (item-inline-cost.ts).
  itemInlineMaxBytes: (life: ItemLife) => itemInlineBreakEven(AWS_ON_DEMAND_PRICES, WRITE_UNIT_BYTES, life),
  sharedAcrossHosts: true,
});

export interface DynamoMetaStoreOptions {
  client: DynamoDBClient;
  table: string;
  /** Ask DynamoDB for consumed capacity on every call (feeds awsRequestCounts()). */
  returnConsumedCapacity?: boolean;
}

export class DynamoMetaStore implements MetaStore {
  readonly limits: MetaStoreLimits = { maxTransactItems: 100, maxItemBytes: 400 * 1024 };
  readonly traits: MetaStoreTraits = DYNAMODB_TRAITS;
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly rcc: { ReturnConsumedCapacity?: ReturnConsumedCapacity };

  constructor(opts: DynamoMetaStoreOptions) {
    this.client = opts.client;
    this.table = opts.table;
    this.rcc = opts.returnConsumedCapacity ? { ReturnConsumedCapacity: 'TOTAL' } : {};
  }

  async get(key: MetaKey, opts?: { consistent?: boolean }): Promise<MetaItem | undefined> {
    try {
      const res = await this.client.send(
        new GetItemCommand({
          TableName: this.table,
          Key: marshalKey(key),
          ConsistentRead: opts?.consistent ?? true,
          ...this.rcc,
        }),
      );
      return res.Item ? unmarshalItem(res.Item) : undefined;
    } catch (err) {
      throw wrapAwsError(err, `DynamoDB GetItem ${key.pk}/${key.sk}`);
    }
  }

  async batchGet(keys: MetaKey[], opts?: { consistent?: boolean }): Promise<Array<MetaItem | undefined>> {
    const found = new Map<string, MetaItem>();
    const id = (k: { pk: string; sk: string }): string => `${k.pk}\u0000${k.sk}`;
    for (let i = 0; i < keys.length; i += 100) {
      let todo: Array<Record<string, AttributeValue>> = keys.slice(i, i + 100).map(marshalKey);
      // DynamoDB may leave keys unprocessed under load: ask again for those, backing off.
      for (let attempt = 0; todo.length > 0; attempt++) {
        let res;
        try {
          res = await this.client.send(new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: todo, ConsistentRead: opts?.consistent !== false } }, ...this.rcc }));
        } catch (err) {
          throw wrapAwsError(err, `DynamoDB BatchGetItem (${todo.length} keys)`);
        }
        for (const raw of res.Responses?.[this.table] ?? []) {
          const item = unmarshalItem(raw);
          found.set(id(item), item);
        }
        todo = res.UnprocessedKeys?.[this.table]?.Keys ?? [];
        if (todo.length > 0) {
          if (attempt >= 10) throw new StorageError(`DynamoDB BatchGetItem left ${todo.length} keys unprocessed after ${attempt + 1} attempts`);
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(1000, 25 * 2 ** attempt)));
        }
      }
    }
    return keys.map((k) => found.get(id(k)));
  }

  async query(q: QueryOptions): Promise<QueryPage> {
    if (q.limit !== undefined && (!Number.isInteger(q.limit) || q.limit < 1)) {
      throw new StorageError(`query limit must be a positive integer, got ${q.limit}`);
    }
    // startAfter is folded into the key condition rather than sent as ExclusiveStartKey:
    // DynamoDB rejects a start key outside the key condition, the port does not.
    const range = sortKeyRange(q);
    if (range.empty) return { items: [] };
    const ctx = new ExpressionContext();
    const skCond = sortKeyCondition(range, ctx);
    const keyCondition = `${ctx.name('pk')} = ${ctx.value(q.pk)}${skCond ? ` AND ${skCond}` : ''}`;

    const items: MetaItem[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    for (;;) {
      const want = q.limit === undefined ? undefined : q.limit - items.length;
      let res;
      try {
        res = await this.client.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: keyCondition,
            ...ctx.params(),
            ScanIndexForward: !q.reverse,
            ConsistentRead: q.consistent ?? true,
            ...(want !== undefined ? { Limit: want } : {}),
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
            ...this.rcc,
          }),
        );
      } catch (err) {
        throw wrapAwsError(err, `DynamoDB Query ${q.pk}`);
      }
      let dropped = false;
      for (const raw of res.Items ?? []) {
        const item = unmarshalItem(raw);
        // BETWEEN is inclusive; an exclusive endpoint is removed here. A ProjectionExpression
        // names top-level attributes and list elements by index, so it cannot leave out the
        // bytes nested in a commit page's extents: withoutBinary drops them here.
        if (inRange(item.sk, range)) items.push(q.withoutBinary ? stripBinary(item) : item);
        else dropped = true;
      }
      const last = res.LastEvaluatedKey;
      const next = last?.sk?.S;
      if (!last || next === undefined) return { items };
      // Refill a page that lost an excluded endpoint, so `limit` items come back when they exist.
      if (dropped && q.limit !== undefined && items.length < q.limit) {
        startKey = last;
        continue;
      }
      return { items, next };
    }
  }

  async write(op: WriteOp): Promise<MetaItem | undefined> {
    const what = `DynamoDB ${op.type} ${describeKey(op)}`;
    try {
      switch (op.type) {
        case 'put': {
          const ctx = new ExpressionContext();
          const cond = op.condition ? conditionExpression(op.condition, ctx) : undefined;
          const Item = marshalItem(op.item);
          await this.client.send(
            new PutItemCommand({
              TableName: this.table,
              Item,
              ...(cond ? { ConditionExpression: cond, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } : {}),
              ...ctx.params(),
              ...this.rcc,
            }),
          );
          return unmarshalItem(Item);
        }
        case 'update': {
          const ctx = new ExpressionContext();
          const update = updateExpression(op, ctx);
          const cond = op.condition ? conditionExpression(op.condition, ctx) : undefined;
          const res = await this.client.send(
            new UpdateItemCommand({
              TableName: this.table,
              Key: marshalKey(op.key),
              UpdateExpression: update,
              ...(cond ? { ConditionExpression: cond, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } : {}),
              ...ctx.params(),
              ReturnValues: 'ALL_NEW',
              ...this.rcc,
            }),
          );
          return res.Attributes ? unmarshalItem(res.Attributes) : { pk: op.key.pk, sk: op.key.sk };
        }
        case 'delete': {
          const ctx = new ExpressionContext();
          const cond = op.condition ? conditionExpression(op.condition, ctx) : undefined;
          await this.client.send(
            new DeleteItemCommand({
              TableName: this.table,
              Key: marshalKey(op.key),
              ...(cond ? { ConditionExpression: cond, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } : {}),
              ...ctx.params(),
              ...this.rcc,
            }),
          );
          return undefined;
        }
        case 'check':
          // DynamoDB has no standalone condition check: a one-item transaction evaluates it.
          await this.transact([op]);
          return undefined;
        default: {
          const never: never = op;
          throw new StorageError(`unknown write op ${JSON.stringify(never)}`);
        }
      }
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        throw new ConditionFailedError(0, err.Item ? unmarshalItem(err.Item) : undefined, `${what}: condition failed`);
      }
      if (sdkError(err).name === 'TransactionConflictException') {
        throw new TransactionConflictError(`${what}: conflicts with a concurrent transaction`, { cause: err });
      }
      throw wrapAwsError(err, what);
    }
  }

  async transact(ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return;
    if (ops.length > this.limits.maxTransactItems) {
      throw new StorageError(`transaction has ${ops.length} ops, DynamoDB allows ${this.limits.maxTransactItems}`);
    }
    const TransactItems = ops.map((op) => this.transactItem(op));
    try {
      await this.client.send(new TransactWriteItemsCommand({ TransactItems, ...this.rcc }));
    } catch (err) {
      if (err instanceof TransactionCanceledException) throw this.cancellation(err, ops);
      if (sdkError(err).name === 'TransactionConflictException') {
        throw new TransactionConflictError('transaction conflicts with a concurrent write', { cause: err });
      }
      throw wrapAwsError(err, `DynamoDB TransactWriteItems (${ops.length} ops)`);
    }
  }

  private transactItem(op: WriteOp): TransactWriteItem {
    const ctx = new ExpressionContext();
    const TableName = this.table;
    const onFail = { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } as const;
    switch (op.type) {
      case 'put': {
        const cond = op.condition ? conditionExpression(op.condition, ctx) : undefined;
        return { Put: { TableName, Item: marshalItem(op.item), ...(cond ? { ConditionExpression: cond, ...onFail } : {}), ...ctx.params() } };
      }
      case 'update': {
        const UpdateExpression = updateExpression(op, ctx);
        const cond = op.condition ? conditionExpression(op.condition, ctx) : undefined;
        return {
          Update: { TableName, Key: marshalKey(op.key), UpdateExpression, ...(cond ? { ConditionExpression: cond, ...onFail } : {}), ...ctx.params() },
        };
      }
      case 'delete': {
        const cond = op.condition ? conditionExpression(op.condition, ctx) : undefined;
        return { Delete: { TableName, Key: marshalKey(op.key), ...(cond ? { ConditionExpression: cond, ...onFail } : {}), ...ctx.params() } };
      }
      case 'check': {
        const ConditionExpression = conditionExpression(op.condition, ctx);
        return { ConditionCheck: { TableName, Key: marshalKey(op.key), ConditionExpression, ...onFail, ...ctx.params() } };
      }
      default: {
        const never: never = op;
        throw new StorageError(`unknown write op ${JSON.stringify(never)}`);
      }
    }
  }

  /** Maps CancellationReasons (one per op, in order) to the most useful Samsa error. */
  private cancellation(err: TransactionCanceledException, ops: WriteOp[]): Error {
    const reasons = err.CancellationReasons ?? [];
    const failed = reasons.findIndex((r) => r.Code === 'ConditionalCheckFailed');
    if (failed >= 0) {
      const raw = reasons[failed]?.Item;
      return new ConditionFailedError(
        failed,
        raw ? unmarshalItem(raw) : undefined,
        `transaction op ${failed} (${ops[failed]?.type} ${ops[failed] ? describeKey(ops[failed]) : ''}): condition failed`,
      );
    }
    const codes = reasons.map((r) => r.Code ?? 'None');
    if (codes.includes('TransactionConflict')) {
      return new TransactionConflictError(`transaction conflict (reasons: ${codes.join(', ')})`, { cause: err });
    }
    const throttle = (c: string): boolean => c === 'ProvisionedThroughputExceeded' || c === 'ThrottlingError' || c === 'RequestLimitExceeded';
    const retriable = codes.some(throttle);
    const bad = reasons.findIndex((r) => r.Code && r.Code !== 'None');
    const msg = bad >= 0 ? `op ${bad}: ${reasons[bad]?.Code} ${reasons[bad]?.Message ?? ''}` : err.message;
    // Cancelled for capacity alone: nothing of it was applied, and the caller is told to slow
    // down and retry (429 THROTTLING, errors.ts publicError) like a throttled single write.
    if (retriable && codes.every((c) => c === 'None' || throttle(c))) return new ThrottledError(`DynamoDB transaction cancelled: ${msg}`, { cause: err });
    return new StorageError(`DynamoDB transaction cancelled: ${msg}`, retriable, { cause: err });
  }
}

function describeKey(op: WriteOp): string {
  const k = op.type === 'put' ? op.item : op.key;
  return `${k.pk}/${k.sk}`;
}
