// WAL checkpoints of the embedded metadata store, off the event loop. SQLite's automatic
// checkpoint runs inside the commit that crosses wal_autocheckpoint pages: with better-sqlite3
// (synchronous) that commit — and every request waiting on the loop behind it — stalls while
// the WAL is copied into the database file and both are synced (issue 18: 10–70 ms, once every
// few hundred single-record commits, the single-record p999). A worker thread with its own
// connection runs PASSIVE checkpoints on a timer instead: PASSIVE never takes the writer's lock,
// so commits go on while it copies, and once a checkpoint has copied the whole WAL the next
// commit starts writing it from the beginning again, which keeps it bounded.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** What the worker does every interval (CommonJS: an eval worker runs outside the ESM loader). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path, { fileMustExist: true });
const stats = new Float64Array(workerData.stats);
// Whether the WAL is left wholly copied (or the pass could not run: the next tick retries).
const checkpoint = () => {
  // The WAL is written from its start again only once a checkpoint has copied all of it; one
  // that a commit overlapped left that commit's frames, so go again at once (each pass copies
  // only what was added meanwhile, and is quick) a few times before waiting for the next tick.
  for (let pass = 0; pass < 4; pass++) {
    try {
      const [r] = db.pragma('wal_checkpoint(PASSIVE)');
      stats[0]++;
      stats[1] = r.log;
      stats[2] = r.checkpointed;
      if (r.busy || r.checkpointed >= r.log) return true;
    } catch (err) {
      stats[3]++; // SQLITE_BUSY and the like
      return true;
    }
  }
  return false;
};
// A busy writer can keep every pass from finishing: come back soon rather than let the WAL
// grow for a whole interval. Idle, a pass that copies nothing costs a read of the WAL index.
let timer;
const tick = () => {
  timer = setTimeout(tick, checkpoint() ? workerData.intervalMs : Math.min(5, workerData.intervalMs));
};
timer = setTimeout(tick, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
`;

/** Frames counts are what the last checkpoint saw (SQLite's wal_checkpoint result). */
export interface CheckpointStats {
  checkpoints: number;
  /** Frames in the WAL at the last checkpoint. */
  walFrames: number;
  /** Of which copied into the database by then. */
  checkpointedFrames: number;
  failures: number;
}

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly stats = new Float64Array(new SharedArrayBuffer(4 * 8));
  private exited = false;

  /** `onExit` is told if the worker stops on its own (it failed): the caller falls back. */
  constructor(path: string, intervalMs: number, onExit: (err?: Error) => void) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Resolved here: an eval worker's require() would resolve from the working directory.
      workerData: { module: createRequire(import.meta.url).resolve('better-sqlite3'), path, intervalMs, stats: this.stats.buffer },
      // Not the parent's loader flags (tsx in development): the worker needs none of them.
      execArgv: [],
      stdout: false,
      stderr: false,
    });
    this.worker.unref();
    let failure: Error | undefined;
    this.worker.on('error', (err) => (failure = err));
    this.worker.on('exit', () => {
      if (this.exited) return;
      this.exited = true;
      onExit(failure ?? new Error('the WAL checkpoint worker exited'));
    });
  }

  read(): CheckpointStats {
    const s = this.stats;
    return { checkpoints: s[0]!, walFrames: s[1]!, checkpointedFrames: s[2]!, failures: s[3]! };
  }

  /** Stops the worker (its connection closed first, so it never outlives the store). */
  async close(): Promise<void> {
    if (this.exited) return;
    this.exited = true;
    const gone = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage('close');
    // A worker stuck in a checkpoint (a slow disk) is not waited for long.
    const timeout = setTimeout(() => void this.worker.terminate(), 5000);
    await gone;
    clearTimeout(timeout);
  }
}
