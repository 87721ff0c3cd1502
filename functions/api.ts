// Lambda entry point for the HTTP API (Function URL or API Gateway HTTP API, payload v2).
// Thin wiring: config → AWS stores → engine → the Hono app, built once per execution
// environment at init (top-level await) and reused by every warm invocation.
import { defaultIsContentTypeBinary, handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { loadConfig } from '../lib/runtime/config';
import { lambdaInvoker } from '../lib/runtime/lambda/flush-invoker';
import { flushTrigger } from '../lib/runtime/lambda/flush-trigger';
import { createApp, RECORD_BATCH_TYPE } from '../lib/http/app';
import { authFromConfig } from '../lib/http/authz';
import { createSamsaMetrics, engineHooks } from '../lib/obs/instruments';
import { createLogger } from '../lib/obs/logger';
import { openAwsEngine } from '../lib/runtime/aws';
import { flushSchedulerOption } from '../lib/runtime/core';

const cfg = loadConfig();
// JSON lines on stdout: CloudWatch Logs keeps them as they are, and turns the EMF lines that
// follow each invocation into metrics (lib/obs/metrics.ts).
const logger = createLogger({ level: cfg.logLevel, bindings: { service: 'samsa-api' } });
const metrics = createSamsaMetrics();
// Busy partitions are handed to the flush function (async invoke) instead of waiting for the
// schedule; see docs/design/0006-deployment.md.
const trigger = cfg.flushFunction && cfg.flushTriggerWindowMs >= 0 ? flushTrigger(lambdaInvoker(cfg.flushFunction)) : undefined;
const { engine, groups } = await openAwsEngine(cfg, { ...engineHooks(metrics), ...flushSchedulerOption(cfg, trigger?.trigger) });
// The principal is the IAM caller (Function URL) or a JWT claim (API Gateway): SAMSA_AUTH, set by the construct.
const app = createApp({ engine, maxRequestBytes: cfg.maxRequestBytes, logger, metrics, auth: authFromConfig(cfg, engine.meta), groups });
const serve = handle(app, { isContentTypeBinary: (type) => type.startsWith(RECORD_BATCH_TYPE) || defaultIsContentTypeBinary(type) });

export async function handler(event: LambdaEvent, context?: LambdaContext) {
  try {
    return await serve(event, context);
  } finally {
    // The environment freezes when we return: let flush hand-offs started so far leave first.
    await trigger?.drain(1500);
    const lines = metrics.registry.emfLines();
    if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
  }
}
