// Adapter behaviour the shared contracts cannot see: which S3/DynamoDB calls are made (counted
// by the request-accounting middleware), multipart cleanup on failure, the old item carried by
// ConditionFailedError, cancellation reasons, query bound translation on the wire, and
// `npm run setup:aws` idempotency. Runs on the emulator from test/helpers/global-setup.ts.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { ConditionFailedError, StorageError } from '../../../lib/errors.js';
import { awsRequestCounts, resetAwsRequestCounts } from '../../../lib/storage/aws-clients.js';
import { S3ObjectStore } from '../../../lib/storage/s3-object-store.js';
import { awsEndpoint, describeAws, makeDynamoStore, makeS3Store, uniqueName, type DynamoFixture, type S3Fixture } from '../../helpers/aws.js';

const MiB = 1024 * 1024;
const run = promisify(execFile);
const commands = (svc: 'S3' | 'DynamoDB') =>
  Object.fromEntries(Object.entries(awsRequestCounts().byCommand).filter(([k]) => k.startsWith(`${svc}.`)).map(([k, n]) => [k.slice(svc.length + 1), n]));

describeAws('S3ObjectStore on the emulator', () => {
  let f: S3Fixture;
  beforeAll(async () => {
    f = await makeS3Store({ prefix: 'unit/' });
  });
  afterAll(async () => {
    await f?.cleanup();
  });
  beforeEach(() => resetAwsRequestCounts());

  it('appends after a ≥ 5 MiB prefix with UploadPartCopy, never downloading it', async () => {
    const prefix = randomBytes(5 * MiB + 123);
    await f.store.put('seg.log', Buffer.concat([prefix, Buffer.from('old tail')]));
    resetAwsRequestCounts();

    const tail = randomBytes(1000);
    await f.store.append('seg.log', prefix.length, tail);

    expect(commands('S3')).toEqual({
      HeadObject: 1,
      CreateMultipartUpload: 1,
      UploadPartCopy: 1,
      UploadPart: 1,
      CompleteMultipartUpload: 1,
    });
    expect(awsRequestCounts().s3BytesDown).toBe(0);
    expect(awsRequestCounts().s3BytesUp).toBeLessThan(64 * 1024);
    const got = await f.store.get('seg.log');
    expect(Buffer.compare(Buffer.from(got), Buffer.concat([prefix, tail]))).toBe(0);
  });

  // S3 refuses a stale fenced append of a ≥ 5 MiB object at two points: the copy of the kept
  // prefix (x-amz-copy-source-if-match) and the completion (If-Match). The emulator enforces
  // neither (moto 5.2.1), so what can be checked here is that both go out on the wire, pinned to
  // the ETag the caller holds — and nothing is fetched to learn it.
  it('sends a fenced large append pinned to the caller’s ETag on the copy and on the completion', async () => {
    const prefix = randomBytes(5 * MiB + 7);
    const { etag } = await f.store.append('fenced.log', 0, prefix);
    const sent: Array<{ command: string; headers: Record<string, string> }> = [];
    const capture = (next: (a: unknown) => Promise<unknown>, ctx: { commandName?: string }) => async (args: unknown) => {
      const req = (args as { request?: { headers?: Record<string, string> } }).request;
      if (req?.headers) sent.push({ command: ctx.commandName ?? '?', headers: { ...req.headers } });
      return next(args);
    };
    f.client.middlewareStack.add(capture as never, { step: 'finalizeRequest', name: 'captureFencingHeaders' });
    try {
      await f.store.append('fenced.log', prefix.length, randomBytes(10), { ifMatch: etag });
    } finally {
      f.client.middlewareStack.remove('captureFencingHeaders');
    }
    const header = (command: string, name: string) => sent.find((r) => r.command === command)?.headers[name];
    expect(sent.map((r) => r.command)).not.toContain('HeadObjectCommand');
    expect(header('UploadPartCopyCommand', 'x-amz-copy-source-if-match')).toBe(etag);
    expect(header('CompleteMultipartUploadCommand', 'if-match')).toBe(etag);
  });

  it('truncates a large object with a copy-only upload when the body is empty', async () => {
    const data = randomBytes(6 * MiB);
    await f.store.put('trunc.log', data);
    resetAwsRequestCounts();
    await f.store.append('trunc.log', 5 * MiB, new Uint8Array(0));
    expect(commands('S3')).toMatchObject({ UploadPartCopy: 1, CompleteMultipartUpload: 1 });
    expect(commands('S3').UploadPart).toBeUndefined();
    expect((await f.store.head('trunc.log'))?.size).toBe(5 * MiB);
    // Nothing to do when the object already is exactly the kept prefix.
    resetAwsRequestCounts();
    await f.store.append('trunc.log', 5 * MiB, new Uint8Array(0));
    expect(commands('S3')).toEqual({ HeadObject: 1 });
  });

  it('appends after a small prefix with one ranged GET and one PUT', async () => {
    await f.store.put('small.log', Buffer.from('hello world'));
    resetAwsRequestCounts();
    await f.store.append('small.log', 5, Buffer.from(', samsa'));
    expect(commands('S3')).toEqual({ GetObject: 1, PutObject: 1 });
    expect(Buffer.from(await f.store.get('small.log')).toString()).toBe('hello, samsa');
  });

  it('aborts the multipart upload when a part fails, leaving the object as it was', async () => {
    const data = randomBytes(5 * MiB + 10);
    await f.store.put('fail.log', data);
    // A second client on the same bucket whose UploadPart always fails.
    const broken = new S3ObjectStore({ client: f.client, bucket: f.bucket, prefix: 'unit/' });
    const boom = Object.assign(new Error('injected'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
    const mw = (next: (a: unknown) => Promise<unknown>, ctx: { commandName?: string }) => async (args: unknown) => {
      if (ctx.commandName === 'UploadPartCommand') throw boom;
      return next(args);
    };
    f.client.middlewareStack.add(mw as never, { step: 'initialize', name: 'injectUploadPartFailure' });
    try {
      resetAwsRequestCounts();
      const e = await broken.append('fail.log', data.length, randomBytes(10)).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StorageError);
      expect((e as StorageError).retriable).toBe(true);
      expect((e as StorageError).cause).toBe(boom);
      expect(commands('S3').AbortMultipartUpload).toBe(1);
    } finally {
      f.client.middlewareStack.remove('injectUploadPartFailure');
    }
    const open = await f.client.send(new ListMultipartUploadsCommand({ Bucket: f.bucket }));
    expect(open.Uploads ?? []).toEqual([]);
    expect(Buffer.compare(Buffer.from(await f.store.get('fail.log')), data)).toBe(0);
  });

  // The copy of a large kept prefix takes a while on S3 and a flush function is billed for the
  // wall time: the new body is uploaded while the copy runs, not after it (issue 18).
  it('uploads the new body while the prefix is being copied, and completes after both', async () => {
    const prefix = randomBytes(5 * MiB + 3);
    const { etag } = await f.store.append('overlap.log', 0, prefix);
    const events: string[] = [];
    const mw = (next: (a: unknown) => Promise<unknown>, ctx: { commandName?: string }) => async (args: unknown) => {
      const name = ctx.commandName ?? '?';
      events.push(`start ${name}`);
      // Every request waits 50 ms, like a round trip to S3: sequential sends could not overlap.
      await new Promise((r) => setTimeout(r, 50));
      const out = await next(args);
      events.push(`end ${name}`);
      return out;
    };
    f.client.middlewareStack.add(mw as never, { step: 'finalizeRequest', name: 'orderOfSends' });
    const tail = randomBytes(2000);
    try {
      await f.store.append('overlap.log', prefix.length, tail, { ifMatch: etag });
    } finally {
      f.client.middlewareStack.remove('orderOfSends');
    }
    const at = (e: string) => events.indexOf(e);
    expect(at('start UploadPartCommand')).toBeGreaterThan(-1);
    expect(at('start UploadPartCommand')).toBeLessThan(at('end UploadPartCopyCommand'));
    expect(at('start CompleteMultipartUploadCommand')).toBeGreaterThan(Math.max(at('end UploadPartCommand'), at('end UploadPartCopyCommand')));
    expect(Buffer.compare(Buffer.from(await f.store.get('overlap.log')), Buffer.concat([prefix, tail]))).toBe(0);
  });

  it('a copy that fails while the body is uploading aborts only after both settled, leaving the object as it was', async () => {
    const data = randomBytes(5 * MiB + 10);
    await f.store.put('copyfail.log', data);
    const boom = Object.assign(new Error('injected'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
    const events: string[] = [];
    const mw = (next: (a: unknown) => Promise<unknown>, ctx: { commandName?: string }) => async (args: unknown) => {
      const name = ctx.commandName ?? '?';
      events.push(`start ${name}`);
      if (name === 'UploadPartCopyCommand') throw boom;
      // The body's upload is still running when the copy has failed.
      if (name === 'UploadPartCommand') await new Promise((r) => setTimeout(r, 100));
      const out = await next(args);
      events.push(`end ${name}`);
      return out;
    };
    f.client.middlewareStack.add(mw as never, { step: 'finalizeRequest', name: 'failTheCopy' });
    try {
      const e = await f.store.append('copyfail.log', data.length, randomBytes(10)).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StorageError);
      expect((e as StorageError).cause).toBe(boom);
    } finally {
      f.client.middlewareStack.remove('failTheCopy');
    }
    // The body's upload finished (it was not cut off by the abort), then the upload was aborted.
    expect(events).toContain('end UploadPartCommand');
    expect(events.indexOf('start AbortMultipartUploadCommand')).toBeGreaterThan(events.indexOf('end UploadPartCommand'));
    const open = await f.client.send(new ListMultipartUploadsCommand({ Bucket: f.bucket }));
    expect(open.Uploads ?? []).toEqual([]);
    expect(Buffer.compare(Buffer.from(await f.store.get('copyfail.log')), data)).toBe(0);
  });

  it('deletes in batches of at most 1000 keys', async () => {
    const keys = Array.from({ length: 1001 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
    await f.store.put(keys[0] as string, new Uint8Array(1));
    await f.store.put(keys[1000] as string, new Uint8Array(1));
    resetAwsRequestCounts();
    await f.store.delete(keys);
    expect(commands('S3')).toEqual({ DeleteObjects: 2 });
    expect((await f.store.list('many/')).objects).toEqual([]);
  });

  it('hides the store prefix from keys it lists', async () => {
    await f.store.put('p/a', new Uint8Array(2));
    const page = await f.store.list('p/');
    expect(page.objects.map((o) => o.key)).toEqual(['p/a']);
  });
});

describeAws('DynamoMetaStore on the emulator', () => {
  let f: DynamoFixture;
  let pk: string;
  beforeAll(async () => {
    f = await makeDynamoStore({ returnConsumedCapacity: true });
  });
  afterAll(async () => {
    await f?.cleanup();
  });
  beforeEach(() => {
    pk = `unit-${randomBytes(4).toString('hex')}`;
    resetAwsRequestCounts();
  });

  it('carries the current item in ConditionFailedError from a single request (ALL_OLD)', async () => {
    await f.store.write({ type: 'put', item: { pk, sk: 'lease', owner: 'a', epoch: 3, blob: Uint8Array.from([9]) } });
    resetAwsRequestCounts();
    for (const op of [
      { type: 'put' as const, item: { pk, sk: 'lease', owner: 'b' }, condition: { op: 'notExists' as const } },
      { type: 'update' as const, key: { pk, sk: 'lease' }, set: { owner: 'b' }, condition: { op: 'eq' as const, attr: 'epoch', value: 2 } },
      { type: 'delete' as const, key: { pk, sk: 'lease' }, condition: { op: 'ne' as const, attr: 'owner', value: 'a' } },
    ]) {
      const e = await f.store.write(op).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConditionFailedError);
      expect((e as ConditionFailedError).index).toBe(0);
      expect((e as ConditionFailedError).item).toEqual({ pk, sk: 'lease', owner: 'a', epoch: 3, blob: Uint8Array.from([9]) });
    }
    expect(commands('DynamoDB')).toEqual({ PutItem: 1, UpdateItem: 1, DeleteItem: 1 });
  });

  it('evaluates a lone check as a one-item transaction, with the item on failure', async () => {
    await f.store.write({ type: 'put', item: { pk, sk: 'x', v: 1 } });
    resetAwsRequestCounts();
    await f.store.write({ type: 'check', key: { pk, sk: 'x' }, condition: { op: 'eq', attr: 'v', value: 1 } });
    const e = await f.store.write({ type: 'check', key: { pk, sk: 'x' }, condition: { op: 'gt', attr: 'v', value: 1 } }).catch((x: unknown) => x);
    expect((e as ConditionFailedError).item).toEqual({ pk, sk: 'x', v: 1 });
    expect(commands('DynamoDB')).toEqual({ TransactWriteItems: 2 });
  });

  it('names the failing op of a transaction and hands back its item', async () => {
    await f.store.write({ type: 'put', item: { pk, sk: 'b', v: 7 } });
    const e = await f.store
      .transact([
        { type: 'put', item: { pk, sk: 'a', v: 1 } },
        { type: 'update', key: { pk, sk: 'b' }, add: { v: 1 }, condition: { op: 'lt', attr: 'v', value: 5 } },
        { type: 'delete', key: { pk, sk: 'c' } },
      ])
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConditionFailedError);
    expect((e as ConditionFailedError).index).toBe(1);
    expect((e as ConditionFailedError).item).toEqual({ pk, sk: 'b', v: 7 });
    expect(await f.store.get({ pk, sk: 'a' })).toBeUndefined();
  });

  it('refuses more than 100 ops before calling DynamoDB', async () => {
    const ops = Array.from({ length: 101 }, (_, i) => ({ type: 'delete' as const, key: { pk, sk: String(i) } }));
    await expect(f.store.transact(ops)).rejects.toThrow(/101 ops/);
    expect(awsRequestCounts().total).toBe(0);
  });

  it('creates an item from an update with nothing to change', async () => {
    expect(await f.store.write({ type: 'update', key: { pk, sk: 'bare' } })).toEqual({ pk, sk: 'bare' });
    expect(await f.store.get({ pk, sk: 'bare' })).toEqual({ pk, sk: 'bare' });
  });

  it('translates query bounds to key conditions on the wire', async () => {
    const sks = ['a', 'b', 'c', 'd', 'e', 'seg#0001', 'seg#0002', 'seg#0003', 'seg$', 'z'];
    await f.store.transact(sks.map((sk) => ({ type: 'put' as const, item: { pk, sk } })));
    const q = async (o: object) => (await f.store.query({ pk, ...o })).items.map((i) => i.sk);
    expect(await q({ gt: 'a', lt: 'd' })).toEqual(['b', 'c']);
    expect(await q({ gt: 'a', lt: 'd', reverse: true })).toEqual(['c', 'b']);
    expect(await q({ gte: 'b', lte: 'd' })).toEqual(['b', 'c', 'd']);
    expect(await q({ beginsWith: 'seg#' })).toEqual(['seg#0001', 'seg#0002', 'seg#0003']);
    expect(await q({ beginsWith: 'seg#', gt: 'seg#0001' })).toEqual(['seg#0002', 'seg#0003']);
    expect(await q({ beginsWith: 'seg#', reverse: true, limit: 2 })).toEqual(['seg#0003', 'seg#0002']);
    expect(await q({ gt: 'd', lt: 'b' })).toEqual([]);
    expect(await q({ startAfter: 'seg#0003' })).toEqual(['seg$', 'z']);
    expect(await q({ startAfter: 'b', reverse: true })).toEqual(['a']);
    expect(await q({ startAfter: 'zz' })).toEqual([]);
  });

  it('refills a page whose excluded endpoint was dropped, so limit items come back', async () => {
    await f.store.transact(['a', 'b', 'c', 'd'].map((sk) => ({ type: 'put' as const, item: { pk, sk } })));
    resetAwsRequestCounts();
    const page = await f.store.query({ pk, gt: 'a', lt: 'd', limit: 1 });
    expect(page.items.map((i) => i.sk)).toEqual(['b']);
    expect(page.next).toBe('b');
    expect(commands('DynamoDB').Query).toBe(2);
    const rest = await f.store.query({ pk, gt: 'a', lt: 'd', limit: 5, startAfter: page.next as string });
    expect(rest.items.map((i) => i.sk)).toEqual(['c']);
  });

  it('reports consumed capacity when asked to', async () => {
    await f.store.write({ type: 'put', item: { pk, sk: 'cap' } });
    await f.store.get({ pk, sk: 'cap' });
    expect(awsRequestCounts().capacity.total).toBeGreaterThan(0);
  });
});

describeAws('npm run setup:aws', () => {
  it('creates the bucket and table, and a second run changes nothing', async () => {
    const endpoint = awsEndpoint() as string;
    const name = uniqueName('setup');
    const env = {
      ...process.env,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SAMSA_BUCKET: name,
      SAMSA_TABLE: name,
    };
    const once = async () => (await run('npx', ['tsx', 'bin/setup-aws.ts'], { env, timeout: 60_000 })).stdout;
    const first = await once();
    expect(first).toMatch(new RegExp(`created\\s+bucket ${name}`));
    expect(first).toMatch(new RegExp(`created\\s+table ${name}`));
    expect(first).toMatch(/created\s+lifecycle/);
    // TTL on the commit items' attribute (items mode, lib/log/commit-items.ts).
    expect(first).toMatch(new RegExp(`created\\s+time to live on ${name}\\.ttl`));
    const second = await once();
    const steps = second.split('\n').filter((l) => /^\s{2}\w/.test(l));
    expect(steps.length).toBeGreaterThanOrEqual(5);
    for (const l of steps) expect(l).toMatch(/^\s+unchanged /);
    // Usable afterwards by the adapter.
    const f = await makeS3Store();
    await f.cleanup();
  });
});
