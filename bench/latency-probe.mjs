// Loaded into the Samsa server by `BENCH_LATENCY_PROBE=1 npm run bench -- latency` (node
// --import): what a phase's latency tail is made of, seen from inside the server. On SIGUSR2
// (bench/latency.ts sends one as each measured phase starts and one as it ends) it prints, to
// stderr, for the phase just ended: the event-loop delay histogram, GC pauses by kind, how many
// times the loop was held over 3 ms, the server's own time per request (from the 'request'
// event to the response's 'finish'), and the process's CPU time; then starts over.
import http from 'node:http';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const KINDS = { 1: 'scavenge', 2: 'minor-mark-sweep', 4: 'mark-compact', 8: 'incremental', 16: 'weak-callbacks' };
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let gcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([e.detail?.kind ?? 0, e.duration]);
}).observe({ entryTypes: ['gc'] });
// A 1 ms timer that fires late saw the loop held: count the holds over 3 ms.
let last = performance.now();
let holds = [];
setInterval(() => {
  const now = performance.now();
  if (now - last > 3) holds.push(now - last);
  last = now;
}, 1).unref();
let spans = [];
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, req, res) {
  if (event === 'request') {
    const t0 = performance.now();
    res.once('finish', () => spans.push(performance.now() - t0));
  }
  return emit.apply(this, arguments);
};
let cpu = process.cpuUsage();
let phase = 0;

const ms = (x) => x.toFixed(2);
function quantiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
  return `p50 ${ms(q(0.5))} p99 ${ms(q(0.99))} p999 ${ms(q(0.999))} max ${ms(s.at(-1) ?? 0)}`;
}

process.on('SIGUSR2', () => {
  if (phase++ % 2 === 1) {
    const byKind = {};
    for (const [k, d] of gcs) {
      const o = (byKind[KINDS[k] ?? k] ??= { n: 0, ms: 0, max: 0, over2ms: 0 });
      o.n++;
      o.ms += d;
      o.max = Math.max(o.max, d);
      if (d > 2) o.over2ms++;
    }
    const c = process.cpuUsage(cpu);
    const lines = [
      `[probe] phase ${(phase / 2) | 0}: ${spans.length} requests, process CPU ${ms((c.user + c.system) / 1000)} ms (${((c.user + c.system) / Math.max(1, spans.length)).toFixed(0)} µs per request, all threads)`,
      `[probe]   server time per request: ${quantiles(spans)} ms; over 2 ms: ${spans.filter((x) => x > 2).length}`,
      `[probe]   event-loop delay: p50 ${ms(loop.percentile(50) / 1e6)} p99 ${ms(loop.percentile(99) / 1e6)} p999 ${ms(loop.percentile(99.9) / 1e6)} max ${ms(loop.max / 1e6)} ms; holds over 3 ms: ${holds.length}${holds.length ? ` (${holds.slice(0, 20).map(ms).join(' ')}${holds.length > 20 ? ' …' : ''})` : ''}`,
      `[probe]   GC pauses: ${Object.entries(byKind).map(([k, o]) => `${k} ${o.n}× total ${ms(o.ms)} max ${ms(o.max)} (${o.over2ms} over 2 ms)`).join('; ') || 'none'}`,
    ];
    process.stderr.write(`${lines.join('\n')}\n`);
  }
  loop.reset();
  gcs = [];
  holds = [];
  spans = [];
  cpu = process.cpuUsage();
});
