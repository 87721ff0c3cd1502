// The retention function's handler (functions/retention.ts wires it to the AWS stores), here so
// tests can run it on any engine. Two kinds of event: the EventBridge schedule (one retention
// pass: deleted topics, retention of every partition, crash leftovers) and the API function's
// hand-off of a topic deletion (deletion-handoff.ts), for which it waits out the deletion grace
// and removes the deleted topics' data alone, seconds after the deletion rather than at the
// next scheduled pass (the name itself is free from the deletion on).
import type { LogEngine } from '../../log/engine';
import { runRetentionJob } from '../jobs';
import { isDeletionRequest } from './deletion-handoff';

/** What the handler reads of Lambda's context object. */
export interface RetentionContext {
  getRemainingTimeInMillis(): number;
}

/** Time kept back from the invocation for the deletion itself and the report. */
const DELETION_MARGIN_MS = 30_000;
/** Margin past the grace, so the marker is surely due on the engine's clock. */
const GRACE_SLACK_MS = 250;

export function retentionHandler(engine: LogEngine, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))): (event: unknown, context?: RetentionContext) => Promise<Record<string, unknown>> {
  return async (event, context) => {
    if (isDeletionRequest(event)) {
      const due = event.deleted_at + engine.retention.deletionGraceMs + GRACE_SLACK_MS - engine.clock.now();
      const room = context ? context.getRemainingTimeInMillis() - DELETION_MARGIN_MS : Infinity;
      // A deletion not due within this invocation is left to the schedule; so is a request
      // claiming a time far ahead (the wait is bounded by the grace it could need).
      if (due > 0) await sleep(Math.min(due, room, engine.retention.deletionGraceMs + GRACE_SLACK_MS));
      const t0 = Date.now();
      const stats = await engine.retention.runDeletions();
      const report = { job: 'retention', deletion: event.topic, ms: Date.now() - t0, ...stats };
      console.log(JSON.stringify(report));
      return report;
    }
    const report = await runRetentionJob(engine);
    console.log(JSON.stringify(report));
    return report;
  };
}
