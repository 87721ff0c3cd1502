// `npm run bench -- keyed-json`: issue 18's keyed JSON produce workload against a real embedded
// server with default settings — 500 keyed 1 KiB string records per request, spread by key
// over 8 partitions, 8 concurrent requests, for BENCH_SECONDS (default 5) — and the server
// process's CPU time per record, which moves less than records/s on a shared machine.
import fs from 'node:fs';
import { closeConnections, request, startSamsa, stopSamsa } from './lib';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const PARTITIONS = 8;
const PER_REQUEST = 500;
const CONCURRENCY = 8;

const server = await startSamsa();
const { port, child } = server;
try {
  const json = { 'content-type': 'application/json' };
  const created = await request(port, 'POST', '/v1/topics', JSON.stringify({ name: 'keyed', partitions: PARTITIONS }), json);
  if (created.status !== 201) throw new Error(`create topic: ${created.status} ${created.body}`);
  const text = 'a'.repeat(1024);
  let k = 0;
  // Distinct keys in every request body, so murmur2 spreads each request over all partitions.
  const bodies = Array.from({ length: 16 }, () => JSON.stringify({ value_format: 'string', records: Array.from({ length: PER_REQUEST }, () => ({ key: `key-${k++}`, value: text })) }));
  let i = 0;
  const send = async () => {
    const r = await request(port, 'POST', '/v1/topics/keyed/records', bodies[i++ % bodies.length]!, json);
    if (r.status !== 200) throw new Error(`produce: ${r.status} ${r.body}`);
  };
  for (let w = 0; w < 10; w++) await send(); // warm up
  const cpu0 = cpuMs(child.pid!);
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  let records = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await send();
        records += PER_REQUEST;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuMs(child.pid!) - cpu0;
  console.log('| measure | result | target |\n| --- | --- | --- |');
  console.log(`| keyed JSON produce, ${PER_REQUEST} × 1 KiB records per request over ${PARTITIONS} partitions, ${CONCURRENCY} concurrent | ${Math.round(records / seconds).toLocaleString('en-US')} records/s | ≥ 100,000 records/s |`);
  console.log(`| server CPU per record | ${((cpu * 1000) / records).toFixed(1)} µs | |`);
} finally {
  closeConnections();
  await stopSamsa(server);
}

/** User + system CPU time of a process so far, from /proc (Linux), in ms; NaN elsewhere. */
function cpuMs(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}
