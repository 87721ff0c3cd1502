// `npm run bench`: every benchmark, one after another, each in its own process so one's heap
// and JIT state never colour the next. Results go to stdout as markdown, to be recorded with
// the machine and date in bench/RESULTS.md. `npm run bench -- codec http` runs a subset.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

const ALL = ['codec', 'http', 'client', 'groups', 'group-idle', 'cost', 'flush-memory', 'flush-latency', 'coldstart', 'peers', 'kafka'];
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = (wanted.length > 0 ? wanted : ALL).filter((n) => {
  const ok = fs.existsSync(new URL(`./${n}.ts`, import.meta.url));
  if (!ok) console.log(`(skipping ${n}: bench/${n}.ts does not exist)`);
  return ok;
});

console.log(`# Samsa benchmarks — ${new Date().toISOString().slice(0, 10)}`);
console.log(`Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
let failed = 0;
for (const name of names) {
  console.log(`## ${name}\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${name}.ts`], { stdio: 'inherit', env: process.env });
  console.log(`\n(${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s${r.status === 0 ? '' : `, exit ${r.status}`})\n`);
  if (r.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
