// The Kafka listener in-process, over real sockets and real (local) stores: what hostile or
// broken frames do (close that connection only), ordering of pipelined responses, the
// socket.request.max.bytes bound, SASL/PLAIN with the HTTP API's keys and ACLs, and a fuzz of
// random frames that must never take the process (or another connection) down.
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import type { AuthOptions } from '../../../lib/http/authz';
import { startKafkaListener, type KafkaListener } from '../../../lib/kafka/server';
import { ErrorCode, Reader, Writer } from '../../../lib/kafka/protocol';
import { LogEngine } from '../../../lib/log/engine';
import { encodeRecordBatch } from '../../../lib/records';
import { produceBases, RawClient, testAuth } from './raw-client';
import { localStores, type TestStores } from '../../helpers/stores';

let stores: TestStores;
let engine: LogEngine;
let coordinator: GroupCoordinator;
const listeners: KafkaListener[] = [];

beforeAll(async () => {
  stores = await localStores('samsa-kafka-');
  engine = new LogEngine(stores.meta, stores.objects);
  coordinator = new GroupCoordinator(engine.meta, engine);
  await engine.createTopic('t', 2);
});

afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

afterAll(async () => {
  await engine.close();
  await stores.cleanup();
});

async function listener(extra: Partial<Parameters<typeof startKafkaListener>[0]> = {}): Promise<KafkaListener> {
  const l = await startKafkaListener({ engine, coordinator, port: 0, host: '127.0.0.1', ...extra });
  listeners.push(l);
  return l;
}


/** ApiVersions v0 round trip: the connection (and the listener) still answer. */
async function stillServes(port: number): Promise<void> {
  const c = await RawClient.connect(port);
  c.request(18, 0, 7);
  const res = await c.response();
  expect(res).toBeDefined();
  const r = new Reader(res!);
  expect(r.int32()).toBe(7);
  expect(r.int16()).toBe(ErrorCode.NONE);
  c.end();
}

describe('frames', () => {
  it('a malformed request header closes only that connection', async () => {
    const l = await listener();
    const bystander = await RawClient.connect(l.port);
    const bad = await RawClient.connect(l.port);
    bad.send(Buffer.from([0, 0, 0, 3, 1, 2, 3])); // 3 bytes: not even api key + version + correlation id
    expect(await bad.closedWithin()).toBe(true);
    bystander.request(18, 1, 1);
    expect(await bystander.response()).toBeDefined();
    expect(bystander.closed).toBe(false);
    bystander.end();
  });

  it('a frame longer than socket.request.max.bytes closes the connection before its body is buffered', async () => {
    const l = await listener({ maxRequestBytes: 1024 });
    const c = await RawClient.connect(l.port);
    const size = Buffer.alloc(4);
    size.writeInt32BE(1025);
    c.send(size);
    expect(await c.closedWithin()).toBe(true);
    const neg = await RawClient.connect(l.port);
    neg.send(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    expect(await neg.closedWithin()).toBe(true);
    await stillServes(l.port);
  });

  it('a body that lies about an array count closes the connection (no allocation of the claimed size)', async () => {
    const l = await listener();
    const c = await RawClient.connect(l.port);
    // Metadata v1 whose topics array claims 2^31-1 entries in a 4-byte body.
    c.request(3, 1, 5, new Writer().int32(0x7fffffff));
    expect(await c.response()).toBeUndefined();
    expect(c.closed).toBe(true);
    await stillServes(l.port);
  });

  it('an API or version it does not speak closes the connection; a too-new ApiVersions gets UNSUPPORTED_VERSION and the ranges', async () => {
    const l = await listener();
    const c = await RawClient.connect(l.port);
    c.request(57, 0, 1); // UpdateFeatures: not offered
    expect(await c.closedWithin()).toBe(true);
    const c2 = await RawClient.connect(l.port);
    c2.request(0, 99, 2); // Produce v99
    expect(await c2.closedWithin()).toBe(true);
    const c3 = await RawClient.connect(l.port);
    c3.request(18, 42, 3, new Writer(), true);
    const r = new Reader((await c3.response())!);
    expect(r.int32()).toBe(3);
    expect(r.int16()).toBe(ErrorCode.UNSUPPORTED_VERSION);
    const apis = r.array((x) => ({ key: x.int16(), min: x.int16(), max: x.int16() }), 6);
    expect(apis.find((a) => a.key === 18)).toEqual({ key: 18, min: 0, max: 3 });
    c3.end();
  });

  it('pipelined requests are answered in request order, whatever order their handlers finish in', async () => {
    const l = await listener();
    const c = await RawClient.connect(l.port);
    // A Fetch that long-polls 300 ms, then quick ApiVersions: the ApiVersions answers must wait.
    const fetchBody = new Writer().int32(-1).int32(300).int32(1).int32(1 << 20).int8(0);
    fetchBody.array([0], (w) => void w.string('t').array([0], (x) => void x.int32(0).int64(0).int32(1 << 20)));
    c.request(1, 4, 100, fetchBody);
    for (let i = 0; i < 20; i++) c.request(18, 0, 101 + i);
    const seen: number[] = [];
    for (let i = 0; i < 21; i++) seen.push(new Reader((await c.response())!).int32());
    expect(seen).toEqual(Array.from({ length: 21 }, (_, i) => 100 + i));
    c.end();
  });

  it('a client that stops reading makes the listener stop reading it (back-pressure), and nothing is lost', async () => {
    const l = await listener();
    await engine.produce('t', [{ partition: 1, value: new Uint8Array(256 * 1024).fill(7) }]);
    const c = await RawClient.connect(l.port);
    c.socket.pause();
    // Each Fetch answer carries the 256 KiB record: a few dozen fill the socket buffers, after
    // which the listener must stop taking requests from this connection rather than queue
    // answers in memory without bound.
    const n = 300;
    const body = (): Writer => {
      const w = new Writer().int32(-1).int32(0).int32(1).int32(1 << 20).int8(0);
      return w.array([0], (x) => void x.string('t').array([0], (y) => void y.int32(1).int64(0).int32(1 << 20)));
    };
    for (let i = 0; i < n; i++) c.request(1, 4, i, body());
    const deadline = Date.now() + 5000;
    while (l.pausedConnections() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(l.pausedConnections()).toBe(1);
    c.socket.resume();
    const seen: number[] = [];
    for (let i = 0; i < n; i++) seen.push(new Reader((await c.response(20_000))!).int32());
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(l.pausedConnections()).toBe(0);
    c.end();
  });

  it('random frames never crash the listener: each connection is answered or closed, and the listener still serves', async () => {
    const l = await listener({ maxRequestBytes: 64 * 1024 });
    const known = [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 32, 36, 37];
    const frame = fc.oneof(
      // Any bytes at all.
      fc.uint8Array({ maxLength: 256 }),
      // A valid header for an offered API and version, then random body bytes: the body
      // decoders' bounds checks are what is exercised.
      fc.record({ key: fc.constantFrom(...known), version: fc.integer({ min: 0, max: 12 }), body: fc.uint8Array({ maxLength: 200 }) }).map(({ key, version, body }) => {
        const h = new Writer().int16(key).int16(version).int32(1).string('fuzz').finish();
        const out = Buffer.alloc(4 + h.length + body.length);
        out.writeInt32BE(h.length + body.length);
        out.set(h, 4);
        out.set(body, 4 + h.length);
        return new Uint8Array(out);
      }),
    );
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 4 }), async (frames) => {
          const c = await RawClient.connect(l.port);
          for (const f of frames) c.send(f);
          // Either answers come or the connection closes; a hang is a failure of the bound.
          for (let i = 0; i < frames.length; i++) {
            const res = await c.response(1500).catch(() => 'timeout' as const);
            if (res === undefined || res === 'timeout') break;
          }
          c.end();
        }),
        { numRuns: 100 },
      );
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    await stillServes(l.port);
  }, 120_000);
});

describe('SASL/PLAIN with the HTTP API keys', () => {
  const keysAuth = (): AuthOptions => testAuth(engine.meta, 'keys', ['User:admin']);
  const keys = new Map([
    ['User:admin', 'admin-secret'],
    ['User:bob', 'bob-secret'],
  ]);

  async function authenticate(c: RawClient, user: string, password: string): Promise<number> {
    c.request(17, 1, 1, new Writer().string('PLAIN'));
    const hs = new Reader((await c.response())!);
    hs.int32();
    expect(hs.int16()).toBe(ErrorCode.NONE);
    c.request(36, 1, 2, new Writer().bytes(Buffer.from(`\u0000${user}\u0000${password}`)));
    const res = await c.response();
    if (!res) return -999;
    const r = new Reader(res);
    r.int32();
    return r.int16();
  }

  /** Metadata v1 for topic t: the topic's error code. */
  async function metadataError(c: RawClient): Promise<number | undefined> {
    c.request(3, 1, 9, new Writer().array(['t'], (w, t) => void w.string(t)));
    const res = await c.response();
    if (!res) return undefined;
    const r = new Reader(res);
    r.int32();
    r.array((x) => [x.int32(), x.string(), x.int32(), x.nullableString()], 10);
    r.int32();
    return r.array((x) => {
      const e = x.int16();
      x.string();
      x.bool();
      x.array((y) => [y.int16(), y.int32(), y.int32(), y.array((z) => z.int32(), 4), y.array((z) => z.int32(), 4)], 18);
      return e;
    }, 8)[0];
  }

  it('a wrong password fails with SASL_AUTHENTICATION_FAILED; the right one authenticates as the key principal, and its ACLs apply', async () => {
    const l = await listener({ auth: keysAuth(), apiKeys: keys, host: '127.0.0.1' });
    const bad = await RawClient.connect(l.port);
    expect(await authenticate(bad, 'bob', 'nope')).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED);
    bad.end();
    // bob has no ACL on topic t: Metadata says TOPIC_AUTHORIZATION_FAILED; admin (super user) sees it.
    const bob = await RawClient.connect(l.port);
    expect(await authenticate(bob, 'bob', 'bob-secret')).toBe(ErrorCode.NONE);
    expect(await metadataError(bob)).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    bob.end();
    // A password that is someone else's key does not make you them.
    const mixed = await RawClient.connect(l.port);
    expect(await authenticate(mixed, 'bob', 'admin-secret')).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED);
    mixed.end();
    const admin = await RawClient.connect(l.port);
    expect(await authenticate(admin, 'User:admin', 'admin-secret')).toBe(ErrorCode.NONE);
    expect(await metadataError(admin)).toBe(ErrorCode.NONE);
    admin.end();
  });

  it('SaslHandshake v0: the next frame is the bare PLAIN token, answered with an empty frame; a bad one closes the connection', async () => {
    const l = await listener({ auth: keysAuth(), apiKeys: keys });
    const raw = (token: string): Buffer => {
      const b = Buffer.from(token);
      const f = Buffer.alloc(4 + b.length);
      f.writeInt32BE(b.length);
      b.copy(f, 4);
      return f;
    };
    const good = await RawClient.connect(l.port);
    good.request(17, 0, 1, new Writer().string('PLAIN'));
    const hs = new Reader((await good.response())!);
    hs.int32();
    expect(hs.int16()).toBe(ErrorCode.NONE);
    good.send(raw('\u0000admin\u0000admin-secret'));
    expect((await good.response())!.length).toBe(0);
    expect(await metadataError(good)).toBe(ErrorCode.NONE);
    good.end();
    const bad = await RawClient.connect(l.port);
    bad.request(17, 0, 1, new Writer().string('PLAIN'));
    await bad.response();
    bad.send(raw('\u0000admin\u0000nope'));
    expect(await bad.response()).toBeUndefined();
    expect(bad.closed).toBe(true);
  });

  it('anonymous is allowed only on loopback: from another address, any API but ApiVersions/SASL before authentication closes the connection', async () => {
    const nonLoopback = Object.values((await import('node:os')).networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    // On loopback, anonymous (User:ANONYMOUS, no ACLs: refused per topic, not disconnected).
    const l = await listener({ auth: keysAuth(), apiKeys: keys, host: nonLoopback ? '0.0.0.0' : '127.0.0.1' });
    const local = await RawClient.connect(l.port);
    expect(await metadataError(local)).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    local.end();
    if (!nonLoopback) {
      console.warn('*** no non-loopback IPv4 address on this machine: the remote half of this test was not run ***');
      return;
    }
    const remote = await RawClient.connect(l.port, nonLoopback);
    expect(await metadataError(remote)).toBeUndefined();
    expect(remote.closed).toBe(true);
    const remote2 = await RawClient.connect(l.port, nonLoopback);
    expect(await authenticate(remote2, 'admin', 'admin-secret')).toBe(ErrorCode.NONE);
    expect(await metadataError(remote2)).toBe(ErrorCode.NONE);
    remote2.end();
  });
});

describe('transactions', () => {
  it('a transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED from FindCoordinator, InitProducerId and Produce', async () => {
    const l = await listener();
    const c = await RawClient.connect(l.port);
    c.request(10, 1, 1, new Writer().string('tx').int8(1));
    let r = new Reader((await c.response())!);
    r.int32();
    r.int32();
    expect(r.int16()).toBe(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    c.request(22, 1, 2, new Writer().string('tx').int32(60_000));
    r = new Reader((await c.response())!);
    r.int32();
    r.int32();
    expect(r.int16()).toBe(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    const batch = encodeRecordBatch([{ value: new Uint8Array([1]) }]);
    const body = new Writer().string('tx').int16(-1).int32(5000);
    body.array(['t'], (w, t) => void w.string(t).array([0], (x) => void x.int32(0).bytes(batch)));
    c.request(0, 3, 3, body);
    r = new Reader((await c.response())!);
    r.int32();
    const codes = r
      .array((x) => {
        x.string();
        return x.array((y) => {
          y.int32();
          const code = y.int16();
          y.int64();
          y.int64();
          return code;
        }, 22);
      }, 6)
      .flat();
    r.int32();
    expect(codes).toEqual([ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED]);
    expect((await engine.describeTopic('t')).partitions[0]!.high_watermark).toBe(0);
    c.end();
  });
});

describe('Produce acks', () => {
  it('acks=0 sends no answer but the records are durable; the next request is answered in order', async () => {
    await engine.createTopic('acks', 1);
    const l = await listener();
    const c = await RawClient.connect(l.port);
    const batch = encodeRecordBatch([{ value: new Uint8Array([1]) }, { value: new Uint8Array([2]) }]);
    for (const [i, acks] of [0, 1, -1].entries()) {
      const body = new Writer().string(null).int16(acks).int32(5000);
      body.array(['acks'], (w, t) => void w.string(t).array([0], (x) => void x.int32(0).bytes(batch)));
      c.request(0, 3, 10 + i, body);
    }
    c.request(18, 0, 99);
    // No answer for correlation id 10 (acks=0): the first one is acks=1's, then acks=-1's. The
    // three run concurrently, so which batch took which offsets is not fixed.
    const bases: number[] = [];
    for (const id of [11, 12]) {
      const r = new Reader((await c.response())!);
      expect(r.int32()).toBe(id);
      bases.push(...produceBases(r));
    }
    expect(new Set(bases).size).toBe(2);
    for (const b of bases) expect([0, 2, 4]).toContain(b);
    expect(new Reader((await c.response())!).int32()).toBe(99);
    expect((await engine.describeTopic('acks')).partitions[0]!.high_watermark).toBe(6);
    c.end();
  });
});

describe('Fetch', () => {
  /** Fetch v4 for partitions of one topic; per partition: error, high watermark, record bytes. */
  function fetchBody(topic: string, parts: Array<[number, number]>, maxWait: number, minBytes: number, maxBytes: number, partMax: number): Writer {
    const w = new Writer().int32(-1).int32(maxWait).int32(minBytes).int32(maxBytes).int8(0);
    return w.array([topic], (x, t) => void x.string(t).array(parts, (y, [p, o]) => void y.int32(p).int64(o).int32(partMax)));
  }
  function readFetch(res: Buffer): Array<{ partition: number; error: number; hw: number; bytes: number }> {
    const r = new Reader(res);
    r.int32();
    r.int32();
    return r
      .array((x) => {
        x.string();
        return x.array((y) => {
          const partition = y.int32();
          const error = y.int16();
          const hw = y.int64();
          y.int64();
          y.nullableArray((z) => [z.int64(), z.int64()], 16);
          return { partition, error, hw, bytes: y.nullableBytes()?.length ?? 0 };
        }, 30);
      }, 6)
      .flat();
  }

  it('waits up to max_wait_ms at the end of the log, and a produce wakes it early', async () => {
    await engine.createTopic('fw', 1);
    const l = await listener();
    const c = await RawClient.connect(l.port);
    let t0 = Date.now();
    c.request(1, 4, 1, fetchBody('fw', [[0, 0]], 400, 1, 1 << 20, 1 << 20));
    expect(readFetch((await c.response())!)).toEqual([{ partition: 0, error: 0, hw: 0, bytes: 0 }]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    t0 = Date.now();
    c.request(1, 4, 2, fetchBody('fw', [[0, 0]], 10_000, 1, 1 << 20, 1 << 20));
    setTimeout(() => void engine.produce('fw', [{ partition: 0, value: new Uint8Array([1, 2, 3]) }]), 200);
    const got = readFetch((await c.response())!);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(got[0]!.hw).toBe(1);
    expect(got[0]!.bytes).toBeGreaterThan(0);
    c.end();
  });

  it('max_bytes bounds the response after the first batch; an offset past the end is OFFSET_OUT_OF_RANGE', async () => {
    await engine.createTopic('fb', 2);
    for (let i = 0; i < 5; i++) {
      await engine.produce('fb', [{ partition: 0, value: new Uint8Array(2000).fill(i) }]);
      await engine.produce('fb', [{ partition: 1, value: new Uint8Array(2000).fill(i) }]);
    }
    const l = await listener();
    const c = await RawClient.connect(l.port);
    // max_bytes 1: still one batch (progress), the other partition gets none.
    c.request(1, 4, 1, fetchBody('fb', [[0, 0], [1, 0]], 0, 1, 1, 1 << 20));
    const small = readFetch((await c.response())!);
    expect(small[0]!.bytes).toBeGreaterThan(2000);
    expect(small[0]!.bytes).toBeLessThan(4000);
    expect(small[1]).toEqual({ partition: 1, error: 0, hw: 5, bytes: 0 });
    c.request(1, 4, 2, fetchBody('fb', [[0, 0], [1, 0]], 0, 1, 1 << 20, 1 << 20));
    const all = readFetch((await c.response())!);
    expect(all.map((p) => p.bytes > 10_000)).toEqual([true, true]);
    c.request(1, 4, 3, fetchBody('fb', [[0, 99]], 0, 1, 1 << 20, 1 << 20));
    expect(readFetch((await c.response())!)[0]!.error).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    c.end();
  });
});

describe('quotas', () => {
  it("the HTTP API's producer_byte_rate throttles Kafka produce (requests wait, none is refused)", async () => {
    const auth = testAuth(engine.meta, 'none');
    const quotas = auth.quotas;
    await engine.createTopic('quota', 1);
    await quotas.put({ principal: 'User:ANONYMOUS', producer_byte_rate: 20_000 });
    try {
      const l = await listener({ auth });
      const c = await RawClient.connect(l.port);
      const batch = encodeRecordBatch([{ value: new Uint8Array(10_000).fill(1) }]);
      const t0 = Date.now();
      // 6 × ~10 KB at 20 KB/s with a one-second burst: at least ~2 s, where unthrottled takes milliseconds.
      for (let i = 0; i < 6; i++) {
        const body = new Writer().string(null).int16(1).int32(5000);
        body.array(['quota'], (w, t) => void w.string(t).array([0], (x) => void x.int32(0).bytes(batch)));
        c.request(0, 3, i, body);
      }
      const errors: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = new Reader((await c.response(20_000))!);
        r.int32();
        r.array((x) => (x.string(), x.array((y) => (y.int32(), errors.push(y.int16()), y.int64(), y.int64()), 22)), 6);
      }
      const elapsed = Date.now() - t0;
      expect(errors).toEqual([0, 0, 0, 0, 0, 0]);
      expect(elapsed).toBeGreaterThanOrEqual(1500);
      expect((await engine.describeTopic('quota')).partitions[0]!.high_watermark).toBe(6);
      c.end();
    } finally {
      await quotas.put({ principal: 'User:ANONYMOUS' });
    }
  }, 30_000);
});
