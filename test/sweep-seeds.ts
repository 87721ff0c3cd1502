// `npm run test:seeds [-- <runs>]`: the codec property tests (test/unit/records) under fresh
// random seeds, each run bounded in time, reporting the seed of any failure or hang so it can be
// replayed with `FC_SEED=<seed> npx vitest run test/unit/records`. CI runs one fixed seed
// (test/helpers/fast-check.ts); this is how the snappyjs hang was found, so run it when the
// codec changes, or nightly.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

const runs = Number(process.argv[2] ?? 10);
if (!Number.isInteger(runs) || runs < 1) {
  console.error('usage: npm run test:seeds [-- <runs>]');
  process.exit(2);
}
const RUN_TIMEOUT_MS = 180_000; // a healthy run takes ~10 s here; a hang must not stall the sweep

const failed: Array<{ seed: number; why: string }> = [];
for (let i = 0; i < runs; i++) {
  const seed = randomInt(1, 2 ** 31 - 1);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'test/unit/records', '--reporter=dot'], {
    env: { ...process.env, FC_SEED: String(seed) },
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  const why = r.error ? `no result in ${RUN_TIMEOUT_MS / 1000} s (a hang?)` : r.status !== 0 ? `exit ${r.status}` : '';
  console.log(`seed ${seed}: ${why || 'ok'} (${secs} s)`);
  if (why) {
    failed.push({ seed, why });
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').filter((l) => /FAIL|Error|seed|Counterexample/i.test(l)).slice(0, 20);
    for (const line of tail) console.log(`    ${line}`);
  }
}
console.log(failed.length === 0 ? `\n${runs} seeds, no failure` : `\n${failed.length} of ${runs} seeds failed: ${failed.map((f) => f.seed).join(', ')}`);
process.exit(failed.length === 0 ? 0 : 1);
