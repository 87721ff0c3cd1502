// Issue 11 item 7: real S3 answers a GET or HEAD of a missing key with 403 AccessDenied (not
// 404) when the role lacks s3:ListBucket. moto ignores IAM, so the answers are produced here:
// (1) by a stub speaking S3's wire format, at the adapter level, including the denials that
// must stay errors; (2) by a proxy in front of the emulator that turns every object 404 into
// S3's 403, so a whole engine runs as under a role without ListBucket, and a fetch racing a
// flush's delete of the write-ahead object it was about to read must still succeed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectNotFoundError, StorageError } from '../../../lib/errors.js';
import { LogEngine } from '../../../lib/log/engine.js';
import { codecsReady } from '../../../lib/records/index.js';
import { makeS3Client } from '../../../lib/storage/aws-clients.js';
import { faultyObjectStore, Gate } from '../../../lib/storage/faults.js';
import { S3ObjectStore } from '../../../lib/storage/s3-object-store.js';
import { ManualClock } from '../../../lib/util/clock.js';
import { awsEndpoint, describeAws, makeDynamoStore, makeS3Store, testAwsConfig, type DynamoFixture, type S3Fixture } from '../../helpers/aws.js';

const xmlError = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>R</RequestId><HostId>H</HostId></Error>`;

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

describe('S3ObjectStore: 403 for a key', () => {
  // What S3 sends for each key of the stub bucket, for GET (HEAD gets the status, no body).
  const answers: Record<string, { status: number; code: string; message: string }> = {
    // No s3:ListBucket: a missing key is "Access Denied", sometimes naming the missing action.
    missing: { status: 403, code: 'AccessDenied', message: 'Access Denied' },
    'missing-named': {
      status: 403,
      code: 'AccessDenied',
      message: 'User: arn:aws:sts::123456789012:assumed-role/api/fn is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::b" because no identity-based policy allows the s3:ListBucket action',
    },
    // A role that may not read the key at all: must stay an error.
    forbidden: {
      status: 403,
      code: 'AccessDenied',
      message: 'User: arn:aws:sts::123456789012:assumed-role/api/fn is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::b/forbidden" because no identity-based policy allows the s3:GetObject action',
    },
    expired: { status: 403, code: 'ExpiredToken', message: 'The provided token has expired.' },
  };
  let server: http.Server;
  let store: S3ObjectStore;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      const key = decodeURIComponent(new URL(req.url!, 'http://x').pathname.split('/').slice(2).join('/'));
      const a = answers[key] ?? { status: 404, code: 'NoSuchKey', message: 'The specified key does not exist.' };
      res.writeHead(a.status, { 'content-type': 'application/xml', 'x-amz-request-id': 'R' });
      res.end(req.method === 'HEAD' ? undefined : xmlError(a.code, a.message));
    });
    const url = await listen(server);
    store = new S3ObjectStore({ client: makeS3Client(testAwsConfig(url)), bucket: 'b' });
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads AccessDenied for a key as "absent" unless it names a denied action other than s3:ListBucket', async () => {
    for (const key of ['missing', 'missing-named', 'plain-404']) {
      await expect(store.get(key), key).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(store.get(key, { start: 0, end: 10 }), key).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await store.head(key), key).toBeUndefined();
      await expect(store.append(key, 5, new Uint8Array(1)), key).rejects.toBeInstanceOf(ObjectNotFoundError);
    }
  });

  it('keeps a denial of reading itself, and bad credentials, loud', async () => {
    for (const key of ['forbidden', 'expired']) {
      const get = await store.get(key).catch((e: unknown) => e);
      expect(get, key).toBeInstanceOf(StorageError);
      expect(get, key).not.toBeInstanceOf(ObjectNotFoundError);
      const head = await store.head(key).catch((e: unknown) => e);
      expect(head, key).toBeInstanceOf(StorageError);
      expect(head, key).not.toBeInstanceOf(ObjectNotFoundError);
    }
  });
});

describeAws('an engine whose S3 role lacks s3:ListBucket (404 → 403 proxy in front of the emulator)', () => {
  let proxy: http.Server;
  let s3: S3Fixture;
  let ddb: DynamoFixture;
  let proxied: S3ObjectStore;
  let rewritten = 0;

  beforeAll(async () => {
    await codecsReady();
    [s3, ddb] = await Promise.all([makeS3Store(), makeDynamoStore()]);
    const upstream = new URL(awsEndpoint()!);
    proxy = http.createServer((req, res) => {
      const fwd = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          // An object (not bucket) request that S3 would answer 404: without ListBucket it is 403.
          const objectPath = new URL(req.url!, 'http://x').pathname.split('/').filter(Boolean).length >= 2;
          if (up.statusCode === 404 && objectPath && (req.method === 'GET' || req.method === 'HEAD')) {
            up.resume();
            rewritten++;
            res.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': 'R' });
            res.end(req.method === 'HEAD' ? undefined : xmlError('AccessDenied', 'Access Denied'));
            return;
          }
          res.writeHead(up.statusCode!, up.headers);
          up.pipe(res);
        },
      );
      req.pipe(fwd);
    });
    const url = await listen(proxy);
    proxied = new S3ObjectStore({ client: makeS3Client(testAwsConfig(url)), bucket: s3.bucket });
  }, 60_000);
  afterAll(async () => {
    await new Promise<void>((r) => proxy.close(() => r()));
    await Promise.all([s3?.cleanup(), ddb?.cleanup()]);
  });

  it('a fetch that raced a flush deleting its write-ahead object retries instead of failing', async () => {
    const clock = new ManualClock();
    const opts = { inlineMaxBytes: 64, headOnlyCommits: true, flush: { stepBytes: 1 << 20, indexIntervalBytes: 256 } };
    const writer = new LogEngine(ddb.store, proxied, clock, opts);
    await writer.createTopic('t', 1);
    const values = Array.from({ length: 6 }, (_, i) => `w${i}-${'y'.repeat(300)}`);
    for (const v of values) await writer.produce('t', [{ value: new TextEncoder().encode(v), partition: 0 }]);

    // The reader pauses on its first GET of a write-ahead object, after it has planned the read.
    const fo = faultyObjectStore(proxied);
    const gate = new Gate();
    fo.faults.add({ when: (c) => c.method === 'get' && c.args[0].startsWith('wal/'), action: { kind: 'hang', gate } });
    const reader = new LogEngine(ddb.store, fo, clock, opts);
    const fetching = reader.fetch('t', 0, { offset: 0, maxRecords: 100, maxBytes: 1 << 20 });
    await gate.reached;
    const topic = await writer.topics.get('t');
    expect((await writer.flushPartition(topic, 0)).steps).toBeGreaterThan(0); // deletes the write-ahead objects
    const before = rewritten;
    gate.release();
    const r = await fetching;
    expect(rewritten, 'the proxy answered 403 for the deleted object').toBeGreaterThan(before);
    expect(r.records().map((x) => new TextDecoder().decode(x.value!))).toEqual(values);
  });
});
