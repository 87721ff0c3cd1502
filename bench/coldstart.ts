// Cold start of the Lambda bundles: size of each synthesized bundle in cdk.out (minified, and
// gzipped as a rough zip size) and the in-process init time — a fresh `node` process imports the
// bundle (module evaluation plus its top-level await: config, SDK clients, engine), N times,
// median reported. No AWS calls happen during init, so no endpoint is needed.
// A bundle is index.mjs plus chunks (infra/esbuild.ts splits code reached only by import()):
// "at init" counts index.mjs and the chunks it imports statically, "asset" every file.
//   npm run bench:coldstart [-- --runs 15]
// Runs `npm run synth` first when cdk.out is missing or stale.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { ensureSynth, functionBundle } from '../test/infra/synth';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 11;

const CHILD = `
const t0 = performance.now();
const mod = await import(process.argv[1]);
const ms = performance.now() - t0;
if (typeof mod.handler !== 'function') throw new Error('no handler export');
process.stdout.write(JSON.stringify({ ms }));
process.exit(0);
`;

const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  SAMSA_STORAGE: 'aws',
  SAMSA_BUCKET: 'samsa-bench',
  SAMSA_TABLE: 'samsa-bench',
  SAMSA_FLUSH_FUNCTION: 'samsa-bench-flush',
  SAMSA_FLUSH_DELAY_MS: '5000',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  NODE_NO_WARNINGS: '1',
};

/** index.mjs and every chunk reachable from it by static imports (esbuild writes `import…from"./x.mjs"`). */
function loadedAtInit(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/\bimport(?:[^;"'()]*?from)?\s*"(\.\/[^"]+\.mjs)"/g)) {
      visit(path.join(path.dirname(file), m[1]!));
    }
  };
  visit(entry);
  return [...seen];
}

const size = (files: string[]) => {
  const bytes = Buffer.concat(files.map((f) => fs.readFileSync(f)));
  return { bytes: bytes.length, gz: zlib.gzipSync(bytes, { level: 9 }).length };
};
const fmt = ({ bytes, gz }: { bytes: number; gz: number }) =>
  `${bytes.toLocaleString('en')} B (${(bytes / 1024 / 1024).toFixed(2)} MiB) | ${(gz / 1024).toFixed(0)} KiB`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

ensureSynth();
const rows: string[] = [];
for (const name of ['api', 'flush', 'retention'] as const) {
  const { file } = functionBundle(name);
  const dir = path.dirname(file);
  const all = fs.readdirSync(dir).filter((f) => f.endsWith('.mjs')).map((f) => path.join(dir, f));
  const init = size(loadedAtInit(file));
  const asset = size(all);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, pathToFileURL(file).href], { env, encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`${name}: init failed:\n${res.stderr}`);
    times.push((JSON.parse(res.stdout) as { ms: number }).ms);
  }
  rows.push(
    `| ${name} | ${fmt(asset)} | ${fmt(init)} | ${median(times).toFixed(0)} ms | ${Math.min(...times).toFixed(0)}–${Math.max(...times).toFixed(0)} ms |`,
  );
}
console.log(`Node ${process.version}, ${RUNS} fresh processes per bundle\n`);
console.log('| bundle | asset, minified | asset, gzip | loaded at init, minified | at init, gzip | init (median) | init (range) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
