// The JSON produce route writes keys and values into batches as text (Utf8, issue 18) rather than
// encoding each into bytes first. The stored batches must be exactly what the bytes path makes:
// records partitioned by KafkaJS's murmur2 of the key's UTF-8 bytes, each partition's records
// encoded from TextEncoder's bytes and split by max.message.bytes as before.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../lib/http/app';
import { prepareRecords } from '../../../lib/log/prepare';
import { silentLogger } from '../../../lib/obs/logger';
import { codecsReady, type RecordInput, splitBatches } from '../../../lib/records';
import { openEngine } from '../../../lib/runtime';
import { loadConfig } from '../../../lib/runtime/config';
import { kafkajsMurmur2 } from '../records/kafkajs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-stored-bytes-'));
const { engine, stores } = await openEngine(loadConfig({ SAMSA_DATA_DIR: dir, SAMSA_STORAGE: 'embedded', SAMSA_FLUSH_DELAY_MS: '-1' }));
const app = createApp({ engine, logger: silentLogger });
const te = new TextEncoder();
const PARTITIONS = 4;
const MAX_MESSAGE_BYTES = 4096;

beforeAll(codecsReady);
afterAll(async () => {
  await stores.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const post = (p: string, body: unknown) => app.request(p, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('keyed JSON produce, stored bytes', () => {
  it('are the batches the bytes path encodes, partition by partition', async () => {
    expect((await post('/v1/topics', { name: 'sb', partitions: PARTITIONS, config: { 'max.message.bytes': MAX_MESSAGE_BYTES } })).status).toBe(201);
    const texts = ['', 'a', 'é', '€uro', '😀 emoji', 'lone \ud800 surrogate', 'x'.repeat(700), 'ключ', '\u0000\u007f\u0080'];
    // Three requests: string values, JSON values, and string keys with null values.
    const requests = [
      { value_format: 'string', records: Array.from({ length: 120 }, (_, i) => ({ key: `k${i}${texts[i % texts.length]}`, value: texts[(i * 7) % texts.length]!.repeat(1 + (i % 3)), timestamp: 1_700_000_000_000 + i })) },
      { value_format: 'json', records: Array.from({ length: 60 }, (_, i) => ({ key: texts[i % texts.length], value: { i, t: texts[i % texts.length], n: [1e21, null, true] }, timestamp: 1_700_000_001_000 - i })) },
      { key_format: 'json', value_format: 'string', records: Array.from({ length: 30 }, (_, i) => ({ key: { id: i }, value: null, timestamp: 1_700_000_002_000 })) },
    ];
    const expected: Uint8Array[][] = Array.from({ length: PARTITIONS }, () => []);
    for (const req of requests) {
      const res = await post('/v1/topics/sb/records', req);
      expect(res.status).toBe(200);
      // The bytes path, as the route did before: every key and value through TextEncoder.
      const bytes = (v: unknown, format: string | undefined): Uint8Array | null => (v === null ? null : te.encode(format === 'json' ? JSON.stringify(v) : (v as string)));
      const byPartition: RecordInput[][] = Array.from({ length: PARTITIONS }, () => []);
      for (const r of req.records) {
        const key = bytes(r.key, req.key_format)!;
        byPartition[(kafkajsMurmur2(Buffer.from(key)) & 0x7fffffff) % PARTITIONS]!.push({ key, value: bytes(r.value, req.value_format), timestamp: r.timestamp });
      }
      byPartition.forEach((records, p) => {
        if (records.length === 0) return;
        const prep = prepareRecords(records, MAX_MESSAGE_BYTES, 0, (i) => i);
        for (const s of splitBatches(prep.payload)) expected[p]!.push(prep.payload.subarray(s.start, s.end));
      });
    }
    let batches = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const got = (await engine.fetch('sb', p, { offset: 0, maxBytes: 1 << 24 })).runs.flatMap((run) => splitBatches(run.bytes).map((s) => run.bytes.subarray(s.start, s.end)));
      // The commit sets each batch's base offset (bytes 0-7, outside the CRC); all else is the encoder's.
      expect(got.map((b) => Buffer.from(b.subarray(8)).toString('hex'))).toEqual(expected[p]!.map((b) => Buffer.from(b.subarray(8)).toString('hex')));
      batches += got.length;
    }
    expect(batches).toBeGreaterThan(PARTITIONS); // some partition's records were split into several batches
  });
});
