// The Kafka listener against the HTTP binary route, same server, same run: produce throughput
// (KafkaJS producer, 1,000 × 1 KiB records per send, vs. 1 MiB RecordBatch POSTs) and consume
// throughput (KafkaJS consumer reading the topic from the beginning, vs. 8 MiB binary GETs).
// Both sides use 4 concurrent senders on a 4-partition topic. `npm run bench -- kafka`.
import { Kafka, logLevel } from 'kafkajs';
import { encodeRecordBatch } from '../lib/records';
import { closeConnections, freePort, request, startSamsa, stopSamsa } from './lib';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 5000);
const RECORD = 1024;
const PARTITIONS = 4;
const PER_SEND = 1000;

async function runFor(workers: number, ms: number, fn: (w: number) => Promise<number>): Promise<{ units: number; seconds: number }> {
  const t0 = performance.now();
  let units = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() - t0 < ms) units += await fn(w);
    }),
  );
  return { units, seconds: (performance.now() - t0) / 1000 };
}

const kafkaPort = await freePort();
const server = await startSamsa({ SAMSA_KAFKA_PORT: String(kafkaPort) });
try {
  const json = { 'content-type': 'application/json' };
  for (const name of ['viahttp', 'viakafka']) {
    const r = await request(server.port, 'POST', '/v1/topics', JSON.stringify({ name, partitions: PARTITIONS }), json);
    if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.body}`);
  }
  const value = Buffer.alloc(RECORD, 97);

  // HTTP binary produce: ~1 MiB RecordBatch per request.
  const batch = encodeRecordBatch(Array.from({ length: PER_SEND }, () => ({ value })));
  const httpProduce = await runFor(PARTITIONS, DURATION_MS, async (w) => {
    const r = await request(server.port, 'POST', `/v1/topics/viahttp/partitions/${w}/records`, batch, { 'content-type': 'application/vnd.kafka.record-batch' });
    if (r.status !== 200) throw new Error(`binary produce: ${r.status} ${r.body}`);
    return PER_SEND;
  });

  // Kafka produce: the same records through KafkaJS, one send per partition at a time.
  const kafka = new Kafka({ brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const messages = Array.from({ length: PER_SEND }, () => ({ value }));
  const kafkaProduce = await runFor(PARTITIONS, DURATION_MS, async (w) => {
    await producer.send({ topic: 'viakafka', acks: 1, messages: messages.map((m) => ({ ...m, partition: w })) });
    return PER_SEND;
  });
  await producer.disconnect();

  // HTTP binary consume of everything produced over HTTP.
  let t0 = performance.now();
  let httpRecords = 0;
  await Promise.all(
    Array.from({ length: PARTITIONS }, async (_, p) => {
      let offset = 0;
      for (;;) {
        const r = await request(server.port, 'GET', `/v1/topics/viahttp/partitions/${p}/records?offset=${offset}&max_bytes=${8 << 20}`, undefined, { accept: 'application/vnd.kafka.record-batch' });
        if (r.status !== 200) throw new Error(`fetch: ${r.status} ${r.body}`);
        const next = Number(r.headers['x-next-offset']);
        httpRecords += next - offset;
        if (next === offset || next >= Number(r.headers['x-high-watermark'])) break;
        offset = next;
      }
    }),
  );
  const httpConsumeS = (performance.now() - t0) / 1000;

  // Kafka consume of everything produced over Kafka (KafkaJS decodes every record).
  const total = kafkaProduce.units;
  const consumer = kafka.consumer({ groupId: 'bench', maxBytes: 32 << 20, maxBytesPerPartition: 8 << 20, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: 'viakafka', fromBeginning: true });
  let kafkaRecords = 0;
  let started = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch: b }) => {
        if (started === 0) started = performance.now();
        kafkaRecords += b.messages.length;
        if (kafkaRecords >= total) resolve();
      },
    });
  });
  t0 = performance.now();
  await done;
  const kafkaConsumeS = (performance.now() - t0) / 1000;
  await consumer.disconnect();

  const mb = (records: number, s: number): string => ((records * RECORD) / s / 1e6).toFixed(1);
  console.log(`${PARTITIONS} partitions, 1 KiB records, ${PER_SEND} per request, ${DURATION_MS / 1000} s of produce each; embedded server, loopback`);
  console.log('');
  console.log('| path | produce records/s | produce MB/s | consume records/s | consume MB/s |');
  console.log('|---|---|---|---|---|');
  console.log(`| HTTP binary route | ${Math.round(httpProduce.units / httpProduce.seconds)} | ${mb(httpProduce.units, httpProduce.seconds)} | ${Math.round(httpRecords / httpConsumeS)} | ${mb(httpRecords, httpConsumeS)} |`);
  console.log(`| Kafka listener (KafkaJS 2.2.4) | ${Math.round(kafkaProduce.units / kafkaProduce.seconds)} | ${mb(kafkaProduce.units, kafkaProduce.seconds)} | ${Math.round(kafkaRecords / kafkaConsumeS)} | ${mb(kafkaRecords, kafkaConsumeS)} |`);
  console.log('');
  console.log('The Kafka consume figure includes the group join and KafkaJS decoding every record; the HTTP one counts bytes returned, undecoded.');
} finally {
  closeConnections();
  await stopSamsa(server);
}
