// Lambda entry point for retention, run by an EventBridge schedule: expired segments, deleted
// topics' data and crash leftovers. One pass per event; concurrent passes are safe.
import { loadConfig } from '../lib/runtime/config';
import { runRetentionJob } from '../lib/runtime/jobs';
import { openAwsEngine } from '../lib/runtime/aws';

const cfg = loadConfig();
const { engine } = await openAwsEngine(cfg);

export async function handler(_event: unknown): Promise<Record<string, unknown>> {
  const report = await runRetentionJob(engine);
  console.log(JSON.stringify(report));
  return report;
}
