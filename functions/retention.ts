// Lambda entry point for retention, run by an EventBridge schedule (expired segments, deleted
// topics' data and crash leftovers) and by the API function's hand-off of a topic deletion
// (lib/runtime/lambda/retention-handler.ts). One pass per event; concurrent passes are safe.
import { loadConfig } from '../lib/runtime/config';
import { openAwsEngine } from '../lib/runtime/aws';
import { retentionHandler } from '../lib/runtime/lambda/retention-handler';

const cfg = loadConfig();
const { engine } = await openAwsEngine(cfg);

export const handler = retentionHandler(engine);
