// `npm run test:history -- --ops N --seed S [--mode embedded|aws|both] [--duration-ms MS]
//  [--pause-ms MS] [--nemesis-ms MS] [--out DIR] [--check FILE]`
// Runs the history workload (workload.ts) against real servers under a nemesis, writes the
// history as JSONL, checks it (checker.ts), prints the anomaly table and exits 1 on any anomaly.
// `--check FILE` only checks an existing history. See docs/design/0008-history-checker.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { check, formatResult } from './checker';
import { readHistory } from './history';
import { runHistory } from './workload';

const int = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

const program = new Command('test:history')
  .option('--ops <n>', 'client operations per mode', int('--ops'), 500)
  .option('--seed <s>', 'seed of the workload and nemesis schedule', int('--seed'), 1)
  .option('--mode <mode>', 'embedded | aws | both', 'both')
  .option('--duration-ms <ms>', 'stop the clients after this long even if --ops were not reached', int('--duration-ms'), 30 * 60_000)
  .option('--pause-ms <ms>', 'SIGSTOP length (default: 35000 in aws mode, longer than the 30 s lease; 3000 embedded)', int('--pause-ms'))
  .option('--nemesis-ms <ms>', 'mean gap between nemesis actions', int('--nemesis-ms'), 3000)
  .option('--client-timeout-ms <ms>', 'client request timeout (default: 10000 in aws mode, where the emulator is slow; 5000 embedded)', int('--client-timeout-ms'))
  .option('--out <dir>', 'where to write history-<mode>-<seed>.jsonl', path.join(os.tmpdir(), 'samsa-history'))
  .option('--check <file>', 'only check an existing history file')
  .parse();

const opts = program.opts<{ ops: number; seed: number; mode: string; durationMs: number; pauseMs?: number; nemesisMs: number; clientTimeoutMs?: number; out: string; check?: string }>();

function printResult(label: string, ops: ReturnType<typeof readHistory>): boolean {
  const result = check(ops);
  console.log(`\n=== ${label}: ${ops.length} history lines ===`);
  console.log(formatResult(result));
  return result.valid;
}

let valid = true;
if (opts.check) {
  valid = printResult(opts.check, readHistory(opts.check));
} else {
  if (!['embedded', 'aws', 'both'].includes(opts.mode)) {
    console.error(`--mode must be embedded, aws or both, got ${opts.mode}`);
    process.exit(2);
  }
  fs.mkdirSync(opts.out, { recursive: true });
  const modes = opts.mode === 'both' ? (['embedded', 'aws'] as const) : ([opts.mode] as Array<'embedded' | 'aws'>);
  for (const mode of modes) {
    const historyFile = path.join(opts.out, `history-${mode}-${opts.seed}.jsonl`);
    const { ops, summary } = await runHistory({
      mode,
      ops: opts.ops,
      seed: opts.seed,
      durationMs: opts.durationMs,
      pauseMs: opts.pauseMs ?? (mode === 'aws' ? 35_000 : 3_000),
      nemesisIntervalMs: opts.nemesisMs,
      clientTimeoutMs: opts.clientTimeoutMs ?? (mode === 'aws' ? 10_000 : 5_000),
      historyFile,
      log: (l) => console.log(l),
    });
    console.log(`[history] ${mode}: ${JSON.stringify(summary)}`);
    console.log(`[history] ${mode}: history in ${historyFile}`);
    valid = printResult(`${mode} seed ${opts.seed}`, ops) && valid;
  }
}
process.exit(valid ? 0 : 1);
