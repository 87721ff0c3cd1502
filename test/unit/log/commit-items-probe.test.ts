// What items-mode commits (commit-items.ts) need of DynamoDB, checked against the emulator the
// AWS-path tests run on (moto): a failed put-if-absent returns the item in the way (ALL_OLD),
// which is how a committer learns whose commit holds the offset it tried without a read; a
// transaction of a put-if-absent and a conditional update is all or nothing and names the op
// that failed (idempotent commits); and the table's TTL can be turned on, and turning it on
// again is an error provisioning must tolerate.
import { ConditionalCheckFailedException, DescribeTimeToLiveCommand, PutItemCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { expect, it } from 'vitest';
import { ConditionFailedError } from '../../../lib/errors';
import { COMMIT_TTL_ATTR } from '../../../lib/log/items';
import { ensureTable } from '../../../lib/storage/aws-provision';
import { META_TABLE } from '../../../lib/storage/aws-resources';
import { describeAws, makeDynamoStore, perSuite } from '../../helpers/aws';

describeAws('DynamoDB (moto) does what items-mode commits need', () => {
  const table = perSuite(() => makeDynamoStore());

  it('a put conditional on absence fails with the existing item (ALL_OLD)', async () => {
    const { client, table: name } = await table();
    const put = (cid: number) =>
      client.send(
        new PutItemCommand({
          TableName: name,
          Item: { pk: { S: 'probe#1' }, sk: { S: 'c#00000000000000000000' }, cid: { N: String(cid) }, data: { B: new Uint8Array([1, 2, 3]) } },
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    await put(7);
    const err = await put(8).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConditionalCheckFailedException);
    expect((err as ConditionalCheckFailedException).Item?.['cid']).toEqual({ N: '7' });
    // The port maps it the same way: the item comes back on the error.
    const { store } = await table();
    const viaPort = await store
      .write({ type: 'put', item: { pk: 'probe#1', sk: 'c#00000000000000000000', cid: 9 }, condition: { op: 'notExists' } })
      .catch((e: unknown) => e);
    expect(viaPort).toBeInstanceOf(ConditionFailedError);
    expect((viaPort as ConditionFailedError).item?.['cid']).toBe(7);
  });

  it('a transaction of a put-if-absent and a conditional update is atomic and names the failed op', async () => {
    const { store } = await table();
    await store.write({ type: 'put', item: { pk: 'probe#2', sk: 'head', pv: 1 } });
    const commit = (base: string, pv: number) =>
      store.transact([
        { type: 'put', item: { pk: 'probe#2', sk: base, cid: 1 }, condition: { op: 'notExists' } },
        {
          type: 'update',
          key: { pk: 'probe#2', sk: 'head' },
          set: { pv: pv + 1 },
          condition: { op: 'and', conds: [{ op: 'eq', attr: 'pv', value: pv }, { op: 'attrNotExists', attr: 'deleted' }] },
        },
      ]);
    await commit('c#1', 1);
    // The item put fails: nothing of the transaction applies.
    const taken = await commit('c#1', 2).catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(ConditionFailedError);
    expect((taken as ConditionFailedError).index).toBe(0);
    expect((await store.get({ pk: 'probe#2', sk: 'head' }))?.['pv']).toBe(2);
    // The head's condition fails: the item is not written, and the head comes back.
    const stale = await commit('c#2', 1).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConditionFailedError);
    expect((stale as ConditionFailedError).index).toBe(1);
    expect((stale as ConditionFailedError).item?.['pv']).toBe(2);
    expect(await store.get({ pk: 'probe#2', sk: 'c#2' })).toBeUndefined();
  });

  it('turns on TTL for an attribute; turning it on again is accepted (moto) or refused (AWS)', async () => {
    const { client, table: name } = await table();
    await client.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true } }));
    const desc = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    expect(desc.TimeToLiveDescription?.AttributeName).toBe('ttl');
    expect(desc.TimeToLiveDescription?.TimeToLiveStatus).toMatch(/ENABL/);
    const again = await client
      .send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true } }))
      .then(() => 'accepted', (e: unknown) => (e as Error).name);
    // AWS refuses a repeat (ValidationException "TimeToLive is already enabled"); moto 5.2.1
    // accepts it. Provisioning checks DescribeTimeToLive first and tolerates the refusal.
    expect(['accepted', 'ValidationException']).toContain(again);
  });
});

// Provisioning (aws-provision.ts) turns TTL on for the attribute commit items carry, once.
describeAws('provisioning turns on TTL for the commit items attribute', () => {
  it('enables it on a new table, reports it unchanged on the next run, and names the attribute items.ts writes', async () => {
    expect(META_TABLE.timeToLiveAttribute).toBe(COMMIT_TTL_ATTR);
    const { client, table: name, cleanup } = await makeDynamoStore();
    try {
      const desc = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
      expect(desc.TimeToLiveDescription?.AttributeName).toBe(COMMIT_TTL_ATTR);
      const again = await ensureTable(client, name);
      expect(again.find((r) => r.step.startsWith('time to live'))?.outcome).toBe('unchanged');
    } finally {
      await cleanup();
    }
  });
});
