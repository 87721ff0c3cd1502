// Lambda entry point for retention, run by an EventBridge schedule (expired segments, deleted
// topics' data and crash leftovers) and by the API function's hand-off of a topic deletion
// (lib/runtime/lambda/retention-handler.ts). One pass per event; concurrent passes are safe.
import { loadConfig } from '../lib/runtime/config';
import { openAwsEngine } from '../lib/runtime/aws';
import { retentionHandler } from '../lib/runtime/lambda/retention-handler';
import { createLogger } from '../lib/obs/logger';

const cfg = loadConfig();
// JSON lines on stdout: a composition this function's passes set aside (design note 0011).
const { engine } = await openAwsEngine(cfg, { log: createLogger({ level: cfg.logLevel, bindings: { service: 'samsa-retention' } }) });

export const handler = retentionHandler(engine);
