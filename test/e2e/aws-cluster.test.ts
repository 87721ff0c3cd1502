// AWS mode as Lambda instances would run it: three server processes sharing one bucket and one
// table on the emulator, producers spread over all three, one instance killed under load, and
// concurrent flush jobs. Offsets must stay unique and contiguous, every acknowledged record
// must read back intact from every instance, and the bucket must end up holding Kafka segment
// files that KafkaJS decodes and that cover the log exactly.
import { spawn } from 'node:child_process';
import { ListObjectsV2Command, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeS3Client } from '../../lib/storage/aws-clients';
import { describeAws, awsEndpoint, testAwsConfig, uniqueName } from '../helpers/aws';
import { REPO_ROOT, startServer, type ServerHandle } from '../helpers/server';
import { kafkajsCrc32C, kafkajsDecode } from '../unit/records/kafkajs';

const SEGMENT_BYTES = 64 * 1024;

function run(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function readPartition(base: string, topic: string, p: number): Promise<Array<{ offset: number; value: string }>> {
  const out: Array<{ offset: number; value: string }> = [];
  let offset = 0;
  for (;;) {
    const r = await call(base, 'GET', `/v1/topics/${topic}/partitions/${p}/records?offset=${offset}&max_records=10000&max_bytes=16777216&value_format=string`);
    expect(r.status).toBe(200);
    for (const rec of r.json.records) out.push({ offset: rec.offset, value: rec.value });
    if (r.json.records.length === 0 || r.json.next_offset >= r.json.high_watermark) return out;
    offset = r.json.next_offset;
  }
}

describeAws('AWS mode: three instances sharing one bucket and table', () => {
  let env: Record<string, string>;
  let servers: ServerHandle[] = [];
  let s3: S3Client;
  const acked = new Map<string, string>(); // `${partition}/${offset}` → value
  const TOPIC = 'orders';

  beforeAll(async () => {
    const endpoint = awsEndpoint()!;
    env = {
      SAMSA_STORAGE: 'aws',
      SAMSA_BUCKET: uniqueName('bkt'),
      SAMSA_TABLE: uniqueName('tbl'),
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SAMSA_JOB_INTERVAL_MS: '0',
    };
    // setup:aws is idempotent: twice is the same as once.
    for (let i = 0; i < 2; i++) {
      const r = await run('bin/setup-aws.ts', [], env);
      expect(r.code, r.out).toBe(0);
    }
    s3 = makeS3Client(testAwsConfig(endpoint));
    servers = await Promise.all([0, 1, 2].map(() => startServer({ env })));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('serves a topic created on one instance from the others', async () => {
    const created = await call(servers[0]!.url, 'POST', '/v1/topics', { name: TOPIC, partitions: 3, config: { 'segment.bytes': SEGMENT_BYTES } });
    expect(created.status).toBe(201);
    for (const s of servers.slice(1)) {
      const d = await call(s.url, 'GET', `/v1/topics/${TOPIC}`);
      expect(d.status).toBe(200);
      expect(d.json.partitions).toHaveLength(3);
      expect(d.json.config['segment.bytes']).toBe(SEGMENT_BYTES);
    }
  });

  it('gives twelve concurrent producers over three instances unique, contiguous offsets, readable everywhere', async () => {
    await Promise.all(
      Array.from({ length: 12 }, async (_, w) => {
        for (let i = 0; i < 8; i++) {
          const base = servers[(w + i) % 3]!.url;
          // Mostly small requests; every eighth is large enough to go through a write-ahead object.
          const size = i === 7 ? 150_000 : 20 + ((w * 31 + i * 17) % 400);
          const records = Array.from({ length: 1 + (i % 3) }, (_, j) => ({ value: `w${w}-r${i}-${j}-${'v'.repeat(size)}`, partition: (w + j) % 3 }));
          const r = await call(base, 'POST', `/v1/topics/${TOPIC}/records`, { value_format: 'string', records });
          expect(r.status, JSON.stringify(r.json)).toBe(200);
          r.json.offsets.forEach((o: { partition: number; offset: number }, j: number) => {
            const key = `${o.partition}/${o.offset}`;
            expect(acked.has(key), `offset ${key} acknowledged twice`).toBe(false);
            acked.set(key, records[j]!.value);
          });
        }
      }),
    );
    await expectLogMatchesAcks();
  });

  it('returns the original offsets to an idempotent retry through another instance', async () => {
    const p = await call(servers[0]!.url, 'POST', '/v1/producers');
    const body = { value_format: 'string', producer: { id: p.json.id, epoch: p.json.epoch, sequence: 0 }, records: [{ value: 'idem-a', partition: 1 }, { value: 'idem-b', partition: 2 }] };
    const first = await call(servers[0]!.url, 'POST', `/v1/topics/${TOPIC}/records`, body);
    expect(first.status).toBe(200);
    const retry = await call(servers[2]!.url, 'POST', `/v1/topics/${TOPIC}/records`, body);
    expect(retry.status).toBe(200);
    expect(retry.json.offsets).toEqual(first.json.offsets);
    for (const [j, o] of (first.json.offsets as Array<{ partition: number; offset: number }>).entries()) acked.set(`${o.partition}/${o.offset}`, body.records[j]!.value);
    await expectLogMatchesAcks();
  });

  it('loses nothing acknowledged and skips no offset when an instance is killed under load', async () => {
    let stop = false;
    const writers = Array.from({ length: 6 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const target = servers[w % 3]!;
        const value = `kill-w${w}-${i}`;
        try {
          const r = await call(target.url, 'POST', `/v1/topics/${TOPIC}/records`, { value_format: 'string', records: [{ value, partition: i % 3 }] });
          if (r.status === 200) acked.set(`${r.json.offsets[0].partition}/${r.json.offsets[0].offset}`, value);
        } catch {
          // the killed instance: requests in flight fail; nothing was acknowledged
          if (target.exited) await new Promise((r) => setTimeout(r, 50));
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    await servers[1]!.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(writers);
    servers[1] = await startServer({ env });
    await expectLogMatchesAcks({ allowUnacked: true });
  });

  it('builds Kafka segment files with concurrent flush jobs, and reads the same afterwards', async () => {
    const before = await Promise.all([0, 1, 2].map((p) => readPartition(servers[0]!.url, TOPIC, p)));
    const [a, b] = await Promise.all([run('bin/job.ts', ['flush'], env), run('bin/job.ts', ['flush'], env)]);
    expect(a.code, a.out).toBe(0);
    expect(b.code, b.out).toBe(0);
    const c = await run('bin/job.ts', ['flush'], env);
    expect(c.code, c.out).toBe(0);

    // The topic's objects are under its incarnation's directory, named by the id it describes.
    const id = (await call(servers[0]!.url, 'GET', `/v1/topics/${TOPIC}`)).json.topic_id as string;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    for (let p = 0; p < 3; p++) {
      const list = await s3.send(new ListObjectsV2Command({ Bucket: env.SAMSA_BUCKET, Prefix: `topics/${TOPIC}/${id}/${p}/` }));
      const logs = (list.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith('.log')).sort();
      expect(logs.length).toBeGreaterThan(1);
      let expected = 0;
      const values: string[] = [];
      for (const key of logs) {
        expect(Number(key.split('/').pop()!.slice(0, 20))).toBe(expected);
        const obj = await s3.send(new GetObjectCommand({ Bucket: env.SAMSA_BUCKET, Key: key }));
        const bytes = await obj.Body!.transformToByteArray();
        let pos = 0;
        let batches = 0;
        while (pos < bytes.length) {
          const dv = new DataView(bytes.buffer, bytes.byteOffset + pos);
          const len = dv.getInt32(8) + 12;
          const batch = bytes.subarray(pos, pos + len);
          expect(kafkajsCrc32C(Buffer.from(batch.buffer, batch.byteOffset + 21, len - 21))).toBe(dv.getUint32(17));
          const decoded = await kafkajsDecode(batch);
          for (const r of decoded.records) {
            expect(Number(r.offset)).toBe(expected++);
            values.push(r.value ? r.value.toString() : '');
          }
          pos += len;
          batches++;
        }
        if (batches > 1) expect(bytes.length).toBeLessThanOrEqual(SEGMENT_BYTES);
        for (const ext of ['index', 'timeindex']) {
          const companion = key.replace(/\.log$/, `.${ext}`);
          expect((list.Contents ?? []).some((o) => o.Key === companion), companion).toBe(true);
        }
      }
      const hw = (await call(servers[0]!.url, 'GET', `/v1/topics/${TOPIC}`)).json.partitions[p].high_watermark;
      expect(expected).toBe(hw);
      expect(values).toEqual(before[p]!.map((r) => r.value));
    }
    // Write-ahead objects are deleted once flushed.
    const wal = await s3.send(new ListObjectsV2Command({ Bucket: env.SAMSA_BUCKET, Prefix: 'wal/' }));
    expect(wal.KeyCount ?? 0).toBe(0);
    for (const s of servers) {
      const after = await Promise.all([0, 1, 2].map((p) => readPartition(s.url, TOPIC, p)));
      expect(after).toEqual(before);
    }
  }, 180_000);

  async function expectLogMatchesAcks(opts: { allowUnacked?: boolean } = {}): Promise<void> {
    const d = await call(servers[0]!.url, 'GET', `/v1/topics/${TOPIC}`);
    for (let p = 0; p < 3; p++) {
      const hw = d.json.partitions[p].high_watermark;
      const ackedHere = [...acked.keys()].filter((k) => k.startsWith(`${p}/`)).length;
      if (!opts.allowUnacked) expect(hw).toBe(ackedHere);
      for (const s of servers) {
        const records = await readPartition(s.url, TOPIC, p);
        expect(records.map((r) => r.offset)).toEqual(Array.from({ length: records.length }, (_, i) => i));
        expect(records.length).toBeGreaterThanOrEqual(hw);
        const seen = new Set<string>();
        for (const r of records.slice(0, hw)) {
          const want = acked.get(`${p}/${r.offset}`);
          if (want !== undefined) expect(r.value).toBe(want);
          expect(seen.has(r.value), `value at ${p}/${r.offset} repeated`).toBe(false);
          seen.add(r.value);
        }
      }
    }
  }
});
