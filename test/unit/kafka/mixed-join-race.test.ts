// The mixed-protocol rule (docs/kafka.md): a group is HTTP-managed or Kafka-managed, never both.
// The Kafka JoinGroup marks the group, then looks for HTTP members; the HTTP join looked for the
// mark, then joined. Check-then-act on the HTTP side: a Kafka join that marks and checks between
// the HTTP join's check and its write sees no HTTP member, and the HTTP join sees no mark. Both
// are admitted, and the two kinds of members read the same partitions at once (while every Kafka
// OffsetCommit is refused, as the group has HTTP members).
import net from 'node:net';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { createApp } from '../../../lib/http/app';
import { kafkaGroupGuard } from '../../../lib/kafka/cluster';
import { ErrorCode, Reader, Writer } from '../../../lib/kafka/protocol';
import { startKafkaListener, type KafkaListener } from '../../../lib/kafka/server';
import { LogEngine } from '../../../lib/log/engine';
import { groupPk } from '../../../lib/log/keys';
import { silentLogger } from '../../../lib/obs/logger';
import { faultyMetaStore, Gate } from '../../../lib/storage/faults';
import { localStores, type TestStores } from '../../helpers/stores';
import { RawClient } from './raw-client';

let stores: TestStores;
let engine: LogEngine;
let listener: KafkaListener;
let faults: ReturnType<typeof faultyMetaStore>['faults'];
let app: OpenAPIHono;

beforeAll(async () => {
  stores = await localStores('samsa-mixed-');
  const meta = faultyMetaStore(stores.meta);
  faults = meta.faults;
  engine = new LogEngine(meta, stores.objects);
  const coordinator = new GroupCoordinator(meta, engine);
  await engine.createTopic('t', 2);
  listener = await startKafkaListener({ engine, coordinator, port: 0, host: '127.0.0.1' });
  app = createApp({ engine, groups: coordinator, beforeGroupJoin: kafkaGroupGuard(meta), logger: silentLogger });
});

afterAll(async () => {
  await listener.close();
  await engine.close();
  await stores.cleanup();
});

/** One Kafka JoinGroup v0 round trip on a fresh connection: its error code. */
async function kafkaJoin(port: number, group: string): Promise<number> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const body = new Writer()
    .string(group)
    .int32(10_000)
    .string('')
    .string('consumer')
    .array([{ name: 'range', metadata: Uint8Array.from([0, 0, 0, 0, 0, 0]) }], (w, p) => void w.string(p.name).bytes(p.metadata));
  const header = new Writer().int16(11).int16(0).int32(1).string('mixed-test');
  const payload = Buffer.concat([header.finish(), body.finish()]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  socket.write(Buffer.concat([size, payload]));
  let buf = Buffer.alloc(0);
  const frame = await new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) resolve(buf.subarray(4, 4 + buf.readInt32BE(0)));
    });
    socket.once('close', () => reject(new Error('closed')));
  });
  socket.destroy();
  const r = new Reader(frame);
  r.int32(); // correlation id
  return r.int16();
}

it('an HTTP join and a Kafka JoinGroup racing for one group are not both admitted', async () => {
  // The HTTP join has passed its check for Kafka members; its read of the group is slow.
  const gate = new Gate();
  faults.add({ method: 'query', when: (c) => (c.args[0] as { pk: string }).pk === groupPk('g'), action: { kind: 'hang', gate } });
  const httpJoin = app.request('/v1/groups/g/members', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topics: ['t'] }) });
  await gate.reached;
  const kafka = await kafkaJoin(listener.port, 'g');
  gate.release();
  const http = (await httpJoin).status;
  expect({ kafkaAdmitted: kafka === ErrorCode.NONE, httpAdmitted: http === 200 }).not.toEqual({ kafkaAdmitted: true, httpAdmitted: true });
});

// The admin writes of the HTTP API refuse a group with members ("only while the group has no
// members"), as Kafka refuses them for a group with live consumers. They counted only HTTP
// members: with Kafka consumers in the group, DELETE removed the offsets those consumers resume
// from at their next rebalance (auto.offset.reset then: with latest, the backlog is skipped), and
// a reset was answered 200 and then undone by the consumers' next commits.
it('a group with Kafka members is neither reset, nor deleted, nor has its offsets deleted over HTTP', async () => {
  await engine.produce('t', Array.from({ length: 10 }, () => ({ key: null, value: new TextEncoder().encode('x'), headers: [], partition: 0 })));
  const coordinator = new GroupCoordinator(engine.meta, engine);
  // What a Kafka consumer's OffsetCommit writes, then the consumer (re-)joins.
  await coordinator.commit('k', { offsets: [{ topic: 't', partition: 0, offset: 7 }] });
  expect(await kafkaJoin(listener.port, 'k')).toBe(ErrorCode.NONE);
  const json = { 'content-type': 'application/json' };
  const reset = await app.request('/v1/groups/k/offsets/reset', { method: 'POST', headers: json, body: JSON.stringify({ topic: 't', to: 'earliest' }) });
  const delOffsets = await app.request('/v1/groups/k/offsets', { method: 'DELETE', headers: json, body: JSON.stringify({ topic: 't' }) });
  const del = await app.request('/v1/groups/k', { method: 'DELETE' });
  const offset = (await coordinator.offsets('k').catch(() => [])).find((o) => o.partition === 0)?.offset;
  expect({ reset: reset.status, delOffsets: delOffsets.status, del: del.status, offset }).toEqual({ reset: 409, delOffsets: 409, del: 409, offset: 7 });
});

/** JoinGroup v4 on `c`: error code and member id of the answer. */
async function joinV4(c: RawClient, group: string, memberId: string): Promise<{ error: number; memberId: string }> {
  const body = new Writer()
    .string(group)
    .int32(10_000)
    .int32(10_000)
    .string(memberId)
    .string('consumer')
    .array([{ name: 'range', metadata: Uint8Array.from([0, 0, 0, 0, 0, 0]) }], (w, p) => void w.string(p.name).bytes(p.metadata));
  c.request(11, 4, 1, body);
  const r = (await c.reply(10_000))!;
  r.int32(); // throttle
  const error = r.int16();
  r.int32();
  r.string();
  r.string();
  return { error, memberId: r.string()! };
}

// KIP-394 made every v4+ first join a refused one (MEMBER_ID_REQUIRED), and a refused join takes
// the group's Kafka mark back when the group has no member. A member joining with its id while
// that write is under way found the mark still set and did not write it again: once the write
// landed, the group was marked free of Kafka members while one was in it (until the next lease
// renewal), and the HTTP side admitted HTTP members into it.
it("a MEMBER_ID_REQUIRED answer does not take back the Kafka mark of a group a member joins meanwhile", async () => {
  const y = await RawClient.connect(listener.port);
  const x = await RawClient.connect(listener.port);
  const first = await joinV4(y, 'kip394', '');
  expect(first.error).toBe(ErrorCode.MEMBER_ID_REQUIRED);
  const gate = new Gate();
  faults.add({
    method: 'write',
    when: (c) => {
      const op = c.args[0] as { type: string; item?: Record<string, unknown> };
      return op.type === 'put' && op.item?.['pk'] === 'kafka-coord' && op.item['sk'] === 'kip394' && op.item['active'] === false;
    },
    action: { kind: 'hang', gate },
  });
  // Another consumer's first join: MEMBER_ID_REQUIRED, and the group (no member yet) unmarked...
  const other = joinV4(x, 'kip394', '');
  await Promise.race([gate.reached, other]);
  // ...while the first consumer joins with its id.
  const joined = await joinV4(y, 'kip394', first.memberId);
  expect(joined.error).toBe(ErrorCode.NONE);
  gate.release();
  expect((await other).error).toBe(ErrorCode.MEMBER_ID_REQUIRED);
  // A Kafka member is in the group: the HTTP side must see the group as Kafka-held.
  await expect(kafkaGroupGuard(engine.meta)('kip394')).rejects.toThrow(/Kafka-protocol members/);
  faults.clear();
  x.end();
  y.end();
});
