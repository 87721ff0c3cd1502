// Lambda entry point for flushing: committed batches → Kafka segment objects in S3.
// Two kinds of event: the EventBridge schedule (one pass over every partition, then the flush
// lag as a CloudWatch metric) and the API function's async hand-off of one busy partition
// (lib/runtime/lambda/flush-handler.ts).
import { loadConfig } from '../lib/runtime/config';
import { flushHandler } from '../lib/runtime/lambda/flush-handler';
import { openAwsEngine } from '../lib/runtime/aws';
import { createLogger } from '../lib/obs/logger';

const cfg = loadConfig();
// JSON lines on stdout (a composition set aside, design note 0011); the handler adds the EMF line.
const { engine, groups } = await openAwsEngine(cfg, { log: createLogger({ level: cfg.logLevel, bindings: { service: 'samsa-flush' } }) });

export const handler = flushHandler({ engine, groups, table: cfg.table });
