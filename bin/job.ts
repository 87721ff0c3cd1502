// `npm run job:flush` / `npm run job:retention`: one pass of a background job against the
// configured storage (embedded or AWS), then exit. Prints a JSON report.
import { loadConfig } from '../lib/runtime/config';
import { failedFlushPartitions, runFlushJob, runRetentionJob } from '../lib/runtime/jobs';
import { openEngine } from '../lib/runtime';

const which = process.argv[2];
if (which !== 'flush' && which !== 'retention') {
  console.error('usage: job.ts flush|retention');
  process.exit(2);
}
const { engine, stores } = await openEngine(loadConfig());
try {
  const report = which === 'flush' ? await runFlushJob(engine) : await runRetentionJob(engine);
  console.log(JSON.stringify(report));
  // A flush pass carries on past a partition that fails (logged above); the exit code still says so.
  if (failedFlushPartitions(report) > 0) process.exitCode = 1;
} catch (err) {
  console.error(`[samsa] ${which} job failed:`, err);
  process.exitCode = 1;
} finally {
  await engine.close();
  await stores.close();
}
