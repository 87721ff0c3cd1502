// `npm run bench:cost`: AWS requests per MiB produced and consumed, and dollars per GiB, from a
// real workload against an S3/DynamoDB emulator (AWS_ENDPOINT_URL, or a private moto started
// here). Request counts come from the SDK middleware (lib/storage/aws-clients.ts): every HTTP
// attempt the SDK makes. DynamoDB capacity units are computed from the items written and read
// with DynamoDB's on-demand rules (emulators do not bill like DynamoDB):
//   write: ceil(item KB) WRU per item, doubled inside TransactWriteItems;
//   strongly consistent read: ceil(KB / 4) RRU per GetItem, per Query on the summed item sizes.
// Lambda is priced per HTTP request ($0.20 per million) plus GB-seconds (arm64, $0.0000133334)
// at the memory the CDK construct sets, with the duration measured here (an emulator on
// loopback is faster than AWS, so this part is a lower bound; it is reported separately).
// COST_S3_LATENCY_MS / COST_DDB_LATENCY_MS add that much to every S3 / DynamoDB HTTP attempt
// (as bench/flush-latency.ts does), for an estimate of the Lambda part on AWS's round trips;
// the request counts and the AWS column do not change.
import { LogEngine } from '../lib/log/engine';
import { codecsReady, encodeRecordBatch } from '../lib/records';
import { awsConfigFromEnv, awsRequestCounts, makeDynamoClient, makeS3Client, resetAwsRequestCounts } from '../lib/storage/aws-clients';
import { AWS_PRICES, s3RequestPrice } from '../lib/storage/aws-prices';
import { ensureBucket, ensureTable } from '../lib/storage/aws-provision';
import { itemSize } from '../lib/storage/counting';
import { DYNAMODB_TRAITS, DynamoMetaStore } from '../lib/storage/dynamo-meta-store';
import type { MetaItem, MetaStore, WriteOp } from '../lib/storage/ports';
import { S3ObjectStore } from '../lib/storage/s3-object-store';
import { stripBinary } from '../lib/storage/strip-binary';
import { addLatency, emulator } from './lib';
import { jsonEvent, randomValue, seeded } from './payloads';

// lib/storage/aws-prices.ts: the product's one price list.
const PRICE = {
  wru: AWS_PRICES.dynamoWritePerMillion / 1e6,
  rru: AWS_PRICES.dynamoReadPerMillion / 1e6,
  lambdaRequest: AWS_PRICES.lambdaPerMillion / 1e6,
  lambdaGbSecond: AWS_PRICES.lambdaArmGbSecond,
};
const LAMBDA_GB = 1; // the API function's memory in the CDK construct (1024 MB)
const S3_LATENCY_MS = Number(process.env.COST_S3_LATENCY_MS ?? 0);
const DDB_LATENCY_MS = Number(process.env.COST_DDB_LATENCY_MS ?? 0);
const KINESIS_ON_DEMAND_PER_GB = AWS_PRICES.kinesisOnDemandPerGb; // ingest + retrieval, us-east-1

/**
 * DynamoDB on-demand capacity units of what passes through, by DynamoDB's rules: a write
 * costs the larger of the item's size before and after (1 KB units, doubled in a transaction),
 * a delete the size of the item it removes; reads 4 KB units. Item sizes come from what the
 * store returned (reads, and UpdateItem's ALL_NEW), so updates of a large item are charged for
 * the whole item, not just the attributes they set.
 */
function capacityModel(inner: MetaStore): MetaStore & { units: { wru: number; rru: number } } {
  const units = { wru: 0, rru: 0 };
  const kb = (n: number, per: number): number => Math.max(1, Math.ceil(n / per));
  // The last known state of every item seen (sizes come from it): an update inside a
  // transaction returns nothing, so its result is computed by applying the update to it.
  const items = new Map<string, MetaItem>();
  const id = (k: { pk: string; sk: string }): string => `${k.pk}\u0000${k.sk}`;
  const seen = (item: MetaItem): void => void items.set(id(item), item);
  const sizeOf = (k: { pk: string; sk: string }): number | undefined => {
    const item = items.get(id(k));
    return item ? itemSize(item) : undefined;
  };
  /** An update applied to the item as last known (or to a new one). */
  const applied = (op: Extract<WriteOp, { type: 'update' }>): MetaItem => {
    const next: MetaItem = { ...(items.get(id(op.key)) ?? op.key), ...(op.set ?? {}) };
    for (const a of op.remove ?? []) delete next[a];
    for (const [a, n] of Object.entries(op.add ?? {})) next[a] = ((next[a] as number | undefined) ?? 0) + n;
    return next;
  };
  /** Bytes billed for one write op; `after` is the stored item when the store returned it. */
  const billed = (op: WriteOp, after?: MetaItem): number => {
    if (op.type === 'put') return Math.max(sizeOf(op.item) ?? 0, itemSize(op.item));
    if (op.type === 'delete' || op.type === 'check') return sizeOf(op.key) ?? 100;
    return Math.max(sizeOf(op.key) ?? 0, itemSize(after ?? applied(op)));
  };
  const record = (op: WriteOp, after?: MetaItem): void => {
    if (op.type === 'put') seen(op.item);
    else if (op.type === 'delete') items.delete(id(op.key));
    else if (op.type === 'update') seen(after ?? applied(op));
  };
  return {
    units,
    limits: inner.limits,
    traits: inner.traits,
    async get(key, opts) {
      const item = await inner.get(key, opts);
      if (item) seen(item);
      units.rru += kb(item ? itemSize(item) : 1, 4096);
      return item;
    },
    async query(q) {
      // DynamoDB cannot leave nested binary values out of a read: it reads (and bills) whole
      // items, and the store strips them afterwards. So bill, and remember for later deletes,
      // the whole items, then strip them as the store would.
      const { withoutBinary, ...whole } = q;
      const page = await inner.query(whole);
      page.items.forEach(seen);
      units.rru += kb(page.items.reduce((a, i) => a + itemSize(i), 0), 4096);
      return withoutBinary ? { ...page, items: page.items.map(stripBinary) } : page;
    },
    async write(op) {
      const after = await inner.write(op);
      units.wru += kb(billed(op, after), 1024);
      record(op, after);
      return after;
    },
    async transact(ops) {
      await inner.transact(ops);
      for (const op of ops) {
        // A condition check in a transaction costs like a write of its item (DynamoDB).
        units.wru += 2 * kb(billed(op), 1024);
        record(op);
      }
    },
  };
}

interface Measure {
  label: string;
  mib: number;
  httpRequests: number;
  seconds: number;
  byCommand: Record<string, number>;
  wru: number;
  rru: number;
}

function price(m: Measure): { s3: number; ddb: number; lambda: number; requests: number } {
  let s3 = 0;
  let requests = 0;
  for (const [key, n] of Object.entries(m.byCommand)) {
    requests += n;
    const [svc, cmd = ''] = key.split('.');
    if (svc === 'S3') s3 += n * s3RequestPrice(cmd);
  }
  const ddb = m.wru * PRICE.wru + m.rru * PRICE.rru;
  const lambda = m.httpRequests * PRICE.lambdaRequest + m.seconds * LAMBDA_GB * PRICE.lambdaGbSecond;
  return { s3, ddb, lambda, requests };
}



async function main(): Promise<void> {
  await codecsReady();
  const { endpoint, stop } = await emulator();
  const cfg = awsConfigFromEnv();
  const s3c = makeS3Client(cfg);
  const ddbc = makeDynamoClient(cfg);
  addLatency(s3c, S3_LATENCY_MS);
  addLatency(ddbc, DDB_LATENCY_MS);
  const bucket = `samsa-cost-${Date.now()}`;
  const table = `samsa-cost-${Date.now()}`;
  await ensureBucket(s3c, bucket, cfg.region);
  await ensureTable(ddbc, table);
  const meta = capacityModel(new DynamoMetaStore({ client: ddbc, table }));
  const objects = new S3ObjectStore({ client: s3c, bucket });
  // Each HTTP request is its own Lambda invocation: no group commit across requests.
  // AWS mode's commit settings (lib/runtime/core.ts, the DynamoDB store's traits): its inline threshold, head-only commits, items mode.
  const inlineMaxBytes = Number(process.env.COST_INLINE_BYTES ?? DYNAMODB_TRAITS.inlineMaxBytes);
  // Items mode (write-once commit items, lib/log/commit-items.ts) unless COST_ITEMS=0, which
  // measures the head-only commit that topics created before it keep.
  // Items-mode topics keep a commit inline up to the store's break-even on the item as stored
  // (design note 0010, point 11); COST_ITEM_INLINE_BYTES fixes it instead.
  const itemInlineMaxBytes = process.env.COST_ITEM_INLINE_BYTES ? Number(process.env.COST_ITEM_INLINE_BYTES) : DYNAMODB_TRAITS.itemInlineMaxBytes!;
  const engine = new LogEngine(meta, objects, undefined, { inlineMaxBytes, itemInlineMaxBytes, headOnlyCommits: process.env.COST_TRANSACTIONS !== '1', itemCommits: process.env.COST_ITEMS !== '0' });
  const results: Measure[] = [];

  async function measure(label: string, mib: number, fn: () => Promise<number>): Promise<void> {
    resetAwsRequestCounts();
    meta.units.wru = meta.units.rru = 0;
    const t0 = performance.now();
    const httpRequests = await fn();
    const seconds = (performance.now() - t0) / 1000;
    const m: Measure = { label, mib, httpRequests, seconds, byCommand: awsRequestCounts().byCommand, wru: meta.units.wru, rru: meta.units.rru };
    // Several measurements under one label add up (a workload measured in pieces).
    const prev = results.find((r) => r.label === label);
    if (!prev) return void results.push(m);
    prev.mib += m.mib;
    prev.httpRequests += m.httpRequests;
    prev.seconds += m.seconds;
    prev.wru += m.wru;
    prev.rru += m.rru;
    for (const [k, v] of Object.entries(m.byCommand)) prev.byCommand[k] = (prev.byCommand[k] ?? 0) + v;
  }

  /** What the flush job does for one topic's partitions (the other topics are left alone). */
  async function flushTopic(name: string): Promise<void> {
    const topic = (await engine.topics.get(name))!;
    for (let p = 0; p < topic.partitions; p++) await engine.flushPartition(topic, p);
  }

  async function consumeAll(topic: string, partitions: number, maxBytes: number): Promise<number> {
    let requests = 0;
    for (let p = 0; p < partitions; p++) {
      let offset = 0;
      for (;;) {
        const r = await engine.fetch(topic, p, { offset, maxBytes, maxRecords: 100_000 });
        requests++;
        const last = r.runs[r.runs.length - 1];
        if (!last || last.last + 1 >= r.highWatermark) break;
        offset = last.last + 1;
      }
    }
    return requests;
  }

  // --- 1 MiB produce requests (1 KiB records, 1024 per request) ---------------------------
  const MIB_REQUESTS = Number(process.env.COST_MIB_REQUESTS ?? 128);
  await engine.createTopic('big', 4);
  const value = new Uint8Array(1024).fill(7);
  const batch = encodeRecordBatch(Array.from({ length: 1000 }, () => ({ value })));
  const mib = (MIB_REQUESTS * batch.length) / 2 ** 20;
  await measure('produce, 1 MiB requests', mib, async () => {
    for (let i = 0; i < MIB_REQUESTS; i++) await engine.produceBatches('big', i % 4, new Uint8Array(batch), { owned: true });
    return MIB_REQUESTS;
  });
  await measure('flush into segments (job, once)', mib, async () => {
    await flushTopic('big');
    return 1;
  });
  // Lambda responses are capped at 6 MB: consumers read 4 MiB per request.
  await measure('consume once, 4 MiB fetches', mib, () => consumeAll('big', 4, 4 << 20));

  // The same requests from an idempotent producer (the Samsa client's default, as KIP-98 batches
  // with a producer id and per-partition sequences): the producer state must move with the
  // records, so these commits are transactions (lib/log/commit.ts).
  await engine.createTopic('idem', 4);
  const { id: pid, epoch } = await engine.producers.init();
  const seqs = [0, 0, 0, 0];
  await measure('produce, 1 MiB requests, idempotent producer', mib, async () => {
    for (let i = 0; i < MIB_REQUESTS; i++) {
      const p = i % 4;
      const b = encodeRecordBatch(Array.from({ length: 1000 }, () => ({ value })), { producerId: pid, producerEpoch: epoch, baseSequence: seqs[p] });
      seqs[p]! += 1000;
      await engine.produceBatches('idem', p, b, { owned: true });
    }
    return MIB_REQUESTS;
  });

  // --- 4 MiB requests: the Samsa client's default under sustained load ---------------------
  // An idempotent producer whose records queue up behind the partition's request in flight
  // sends up to maxRequestSize (4 MiB, lib/client/producer.ts) of consecutive 1 MiB batches
  // (each under the topic's max.message.bytes) per request. Flushed every 32 MiB, as the API hands off.
  const big4Label = 'produce, 4 MiB requests (the client default under load)';
  await engine.createTopic('big4', 1);
  const big4Requests = Math.max(8, Math.floor(MIB_REQUESTS / 4));
  const p4 = await engine.producers.init();
  let seq4 = 0;
  const request4 = (): Uint8Array => {
    const parts = Array.from({ length: 4 }, (_, i) => encodeRecordBatch(Array.from({ length: 1000 }, () => ({ value })), { producerId: p4.id, producerEpoch: p4.epoch, baseSequence: seq4 + i * 1000 }));
    seq4 += 4000;
    return Buffer.concat(parts);
  };
  const request4Bytes = request4().length;
  seq4 = 0;
  for (let done = 0; done < big4Requests; ) {
    const n = Math.min(8, big4Requests - done);
    const bodies = Array.from({ length: n }, request4);
    await measure(big4Label, (n * request4Bytes) / 2 ** 20, async () => {
      for (const body of bodies) await engine.produceBatches('big4', 0, body, { owned: true });
      return n;
    });
    done += n;
    await measure('flush every 32 MiB, 4 MiB requests', (n * request4Bytes) / 2 ** 20, async () => {
      await flushTopic('big4');
      return 1;
    });
  }
  await measure('consume once, 4 MiB fetches (4 MiB requests)', (big4Requests * request4Bytes) / 2 ** 20, () => consumeAll('big4', 1, 4 << 20));

  // --- single-record requests: 1 KiB, and 4 KiB ---------------------------------------------
  // Two payloads (bench/payloads.ts): JSON events, which items mode stores deflated (~1.8x at
  // 1 KiB: one 1 KB write unit instead of two) and, at 4 KiB, keeps inline because the deflated
  // item is what decides (design note 0010, point 11); and random bytes, which no store can
  // shrink (at 4 KiB they stay written ahead to S3).
  const SMALL = Number(process.env.COST_SMALL_REQUESTS ?? 2000);
  const SMALL4 = Number(process.env.COST_SMALL4_REQUESTS ?? 500);
  const smallPayloads = [
    { name: 'JSON events', value: jsonEvent },
    { name: 'random bytes', value: randomValue },
  ];
  const singleSizes = [
    { kib: 1, requests: SMALL },
    { kib: 4, requests: SMALL4 },
  ];
  const singleLabels = (kib: number, name: string) => ({
    produce: `produce, ${kib} KiB single-record requests (${name})`,
    flush: `flush the ${kib} KiB-request data (${name}; job, once)`,
    consume: `consume once, 1 MiB fetches (${kib} KiB ${name})`,
  });
  for (const { kib, requests } of singleSizes) {
    for (const p of smallPayloads) {
      const topic = `single-${kib}-${p.name.split(' ')[0]!.toLowerCase()}`;
      const l = singleLabels(kib, p.name);
      await engine.createTopic(topic, 4);
      const r = seeded(18);
      const values = Array.from({ length: requests }, () => p.value(r, kib * 1024));
      const mib = (requests * kib * 1024) / 2 ** 20;
      await measure(l.produce, mib, async () => {
        for (const value of values) await engine.produce(topic, [{ value }]);
        return requests;
      });
      await measure(l.flush, mib, async () => {
        await flushTopic(topic);
        return 1;
      });
      await measure(l.consume, mib, () => consumeAll(topic, 4, 1 << 20));
    }
  }

  // --- mid-sized requests: where inline (DynamoDB) vs write-ahead (S3) matters -------------
  // COST_MID_BYTES sets the record size, COST_INLINE_BYTES the threshold: run both sides of it.
  const MID = Number(process.env.COST_MID_REQUESTS ?? 400);
  const MID_BYTES = Number(process.env.COST_MID_BYTES ?? 16 * 1024);
  await engine.createTopic('mid', 4);
  // JSON events of that size (not one repeated byte, which deflates to nothing and would put
  // any size inline now that items mode decides on the deflated item).
  const midRandom = seeded(19);
  const midBatches = Array.from({ length: MID }, () => encodeRecordBatch([{ value: jsonEvent(midRandom, MID_BYTES) }]));
  const midMib = midBatches.reduce((a, b) => a + b.length, 0) / 2 ** 20;
  const midLabel = `${(MID_BYTES / 1024).toFixed(0)} KiB JSON requests`;
  await measure(`produce, ${midLabel}`, midMib, async () => {
    for (let i = 0; i < MID; i++) await engine.produceBatches('mid', i % 4, midBatches[i]!, { owned: true });
    return MID;
  });
  await measure(`flush the ${midLabel} data (job, once)`, midMib, async () => {
    await flushTopic('mid');
    return 1;
  });
  await measure(`consume the ${midLabel} data, 1 MiB fetches`, midMib, () => consumeAll('mid', 4, 1 << 20));

  // --- steady state: flushes that each find only a few MiB per partition -----------------
  // The one-shot flush above is the best case. Under sustained load a partition is flushed
  // again and again, each time extending its segment objects (a multipart composition of the
  // .log, rewrites of .index/.timeindex) and moving its catalog: a fixed cost per flush. The
  // API hands a partition to the flush function once 32 MiB accumulated (design note 0006);
  // the 8 MiB row shows what smaller hand-offs would cost.
  // On S3 the active segment is written in chunks and composed into one object when it closes
  // (design note 0011). The segment here is as large as the run (MIB_REQUESTS MiB, 128 by
  // default); one more request then closes it, measured apart: that last flush composes the
  // segment. Per GiB it is scaled as if every 128 MiB closed a segment (eight times what 1 GiB
  // segments, Kafka's default, cost in fixed requests; the per-chunk ones scale with the bytes).
  const steadyLabel = (every: number): string => `flush every ${every} MiB (steady state, one partition)`;
  const composeLabel = (every: number): string => `close the ${MIB_REQUESTS} MiB segment flushed every ${every} MiB: its composition`;
  for (const every of [32, 8]) {
    const name = `steady-${every}`;
    await engine.createTopic(name, 1, { 'segment.bytes': MIB_REQUESTS * batch.length });
    for (let done = 0; done <= MIB_REQUESTS; ) {
      const closing = done === MIB_REQUESTS;
      const n = closing ? 1 : Math.min(every, MIB_REQUESTS - done);
      for (let i = 0; i < n; i++) await engine.produceBatches(name, 0, new Uint8Array(batch), { owned: true });
      done += n;
      await measure(closing ? composeLabel(every) : steadyLabel(every), closing ? MIB_REQUESTS * (batch.length / 2 ** 20) : (n * batch.length) / 2 ** 20, async () => {
        await flushTopic(name);
        return 1;
      });
    }
  }

  await engine.close();
  stop();

  // --- report ------------------------------------------------------------------------------
  const perGiB = (m: Measure, usd: number): number => (usd / m.mib) * 1024;
  const itemLimit = typeof itemInlineMaxBytes === 'number' ? itemInlineMaxBytes : itemInlineMaxBytes({ days: 8, deleted: false });
  const delayed = S3_LATENCY_MS > 0 || DDB_LATENCY_MS > 0;
  const latency = delayed ? ` Every S3 request delayed ${S3_LATENCY_MS} ms and every DynamoDB request ${DDB_LATENCY_MS} ms (the Lambda column's durations include it).` : '';
  console.log(`Emulator: ${endpoint}.${latency} Inline threshold ${inlineMaxBytes} B (head mode, raw batch); items mode ${itemLimit} B of item as stored (7-day topics). Per-GiB figures scale the measured workload linearly.\n`);
  // Delays added on top of the emulator's own time overstate AWS's round trips, as loopback understates them.
  console.log(`| workload | MiB | AWS requests | per MiB | S3 $/GiB | DynamoDB $/GiB | AWS $/GiB | Lambda $/GiB (${delayed ? 'with the delays' : 'lower bound'}) |`);
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const cost = new Map<string, { aws: number; lambda: number }>();
  for (const m of results) {
    const p = price(m);
    const aws = p.s3 + p.ddb;
    cost.set(m.label, { aws: perGiB(m, aws), lambda: perGiB(m, p.lambda) });
    console.log(
      `| ${m.label} | ${m.mib.toFixed(1)} | ${p.requests} | ${(p.requests / m.mib).toFixed(2)} | ${perGiB(m, p.s3).toFixed(5)} | ${perGiB(m, p.ddb).toFixed(5)} | ${perGiB(m, aws).toFixed(5)} | ${perGiB(m, p.lambda).toFixed(5)} |`,
    );
  }
  console.log('');
  console.log('| scenario (produce + flush + consume once) | AWS $/GiB | with Lambda | Kinesis on-demand $/GB (in + out) | ratio (Samsa with Lambda / Kinesis) |');
  console.log('| --- | --- | --- | --- | --- |');
  const row = (name: string, labels: string[]) => {
    const aws = labels.reduce((a, l) => a + cost.get(l)!.aws, 0);
    const all = aws + labels.reduce((a, l) => a + cost.get(l)!.lambda, 0);
    console.log(`| ${name} | ${aws.toFixed(4)} | ${all.toFixed(4)} | ${KINESIS_ON_DEMAND_PER_GB.toFixed(2)} | ${(all / KINESIS_ON_DEMAND_PER_GB).toFixed(3)} |`);
  };
  const big = ['produce, 1 MiB requests', 'consume once, 4 MiB fetches'];
  row('1 MiB requests, flushed every 32 MiB (sustained load, the default hand-off)', [...big, steadyLabel(32)]);
  row(`1 MiB requests, flushed every 32 MiB, with the composition of ${MIB_REQUESTS} MiB segments`, [...big, steadyLabel(32), composeLabel(32)]);
  row('1 MiB requests, flushed once', [...big, 'flush into segments (job, once)']);
  row('1 MiB requests, flushed every 8 MiB', [...big, steadyLabel(8)]);
  row('1 MiB requests from an idempotent producer, flushed every 32 MiB', ['produce, 1 MiB requests, idempotent producer', 'consume once, 4 MiB fetches', steadyLabel(32)]);
  row('4 MiB requests from an idempotent producer (the client\'s default under load), flushed every 32 MiB', [big4Label, 'flush every 32 MiB, 4 MiB requests', 'consume once, 4 MiB fetches (4 MiB requests)']);
  // Whether a workload's commits were written ahead shows in its S3 PutObject count.
  const putObjects = (label: string): number => results.find((m) => m.label === label)?.byCommand['S3.PutObject'] ?? 0;
  const how = (label: string): string => (putObjects(label) > 0 ? `write-ahead, ${putObjects(label)} PutObject` : 'inline');
  for (const { kib } of singleSizes) {
    for (const p of smallPayloads) {
      const l = singleLabels(kib, p.name);
      row(`${kib} KiB single-record requests (${p.name}; ${how(l.produce)}), flushed once`, [l.produce, l.flush, l.consume]);
    }
  }
  row(`${midLabel} (${how(`produce, ${midLabel}`)}), flushed once`, [`produce, ${midLabel}`, `flush the ${midLabel} data (job, once)`, `consume the ${midLabel} data, 1 MiB fetches`]);
  console.log('\nRequests by command (last scenario run):');
  for (const m of results) console.log(`- ${m.label}: ${JSON.stringify(m.byCommand)}; WRU ${m.wru}, RRU ${m.rru}`);
}

await main();
