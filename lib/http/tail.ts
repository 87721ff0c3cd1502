// A live tail: the fetch route with `follow=true` and `Accept: text/event-stream` answers with
// Server-Sent Events, one `records` event per fetched batch of records whose `id:` is the next
// offset, so a client that reconnects with `Last-Event-ID` resumes exactly where it stopped.
// The session ends cleanly (an `end` event) after `max_session_ms`, before a Lambda timeout or
// an idle proxy would cut it, and on Lambda once it has sent the response's uncapped burst; between records a comment keeps intermediaries from timing out,
// and the client learns from it (X-Keepalive-Ms: the longest silence it will hear) when a
// connection that went quiet is dead, not idle.
// Registered ahead of the plain fetch route and passing every other request through.
import type { Context, MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import { publicError, SamsaError } from '../errors';
import type { LogEngine } from '../log/engine';
import { MAX_TOPIC_ID_CHARS, readIncarnation, TOPIC_ID_HEADER } from './incarnation';
import { jsonDecodedBudget, type KeyFormat, recordToJson, type ValueFormat } from './format';

export interface TailOptions {
  engine: LogEngine;
  /** Longest session (a Lambda deployment sets it below the function timeout). */
  maxSessionMs: number;
  /**
   * Bytes a session sends before it ends with `end` (the client resumes with Last-Event-ID):
   * a streamed Lambda response is bandwidth-capped past its first 6 MB (limits.ts).
   */
  maxSessionBytes?: number;
  /** Whether the runtime streams responses; a buffered one would hold the events to the end. */
  streaming?: boolean;
  /** Per request: how long the platform still lets this response run (Lambda: the time left). */
  sessionBudgetMs?: (c: Context) => number | undefined;
}

/** How long one wait inside the session lasts before a keep-alive comment. */
const WAIT_MS = 15_000;
/** The longest keep-alive interval a client may ask for (`keepalive_ms`), and the default. */
export const MAX_KEEPALIVE_MS = 15_000;
const KEY_FORMATS = new Set(['string', 'json', 'base64']);
const VALUE_FORMATS = new Set(['json', 'string', 'base64']);

function intOf(raw: string | undefined, name: string, min: number, max: number): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new SamsaError('INVALID_REQUEST', `${name} must be an integer between ${min} and ${max}`, { field: name });
  }
  return Number(raw);
}

export function tailMiddleware(opts: TailOptions): MiddlewareHandler {
  const { engine } = opts;
  return async (c, next) => {
    if (c.req.method !== 'GET' || c.req.query('follow') !== 'true' || !(c.req.header('accept') ?? '').includes('text/event-stream')) {
      return next();
    }
    if (opts.streaming === false) {
      // A buffered Lambda response is sent only when the handler returns: the events would
      // arrive all at once at the session's end. Say what works instead.
      throw new SamsaError('INVALID_REQUEST', 'live tails need a streaming deployment (Function URL InvokeMode RESPONSE_STREAM); poll with wait_ms instead', { field: 'follow' });
    }
    const topicName = c.req.param('topic')!;
    const partition = intOf(c.req.param('partition'), 'partition', 0, 1_000_000);
    if (partition === undefined) throw new SamsaError('INVALID_REQUEST', 'partition must be a non-negative integer', { field: 'partition' });
    // Last-Event-ID (a reconnect) wins over the offset the original URL carried.
    const resume = intOf(c.req.header('last-event-id'), 'Last-Event-ID', 0, Number.MAX_SAFE_INTEGER);
    const offset = resume ?? intOf(c.req.query('offset'), 'offset', 0, Number.MAX_SAFE_INTEGER);
    const maxRecords = intOf(c.req.query('max_records'), 'max_records', 1, 10_000) ?? 500;
    const maxBytes = intOf(c.req.query('max_bytes'), 'max_bytes', 1, 8 * 1024 * 1024) ?? 1024 * 1024;
    // Events are JSON: decode at most what a JSON fetch decodes (docs/limits.md).
    const maxDecodedBytes = jsonDecodedBudget(maxBytes);
    // The session ends before the platform would cut it: within the configured bound and,
    // on Lambda, a margin inside the invocation's remaining time, so the client sees `end`.
    const budget = opts.sessionBudgetMs?.(c);
    const cap = budget !== undefined ? Math.max(1000, Math.min(opts.maxSessionMs, budget)) : opts.maxSessionMs;
    const sessionMs = Math.min(intOf(c.req.query('max_session_ms'), 'max_session_ms', 1000, 24 * 3600_000) ?? cap, cap);
    // Silence longer than this means a dead connection to the client; the waits stay WAIT_MS
    // long (a wait is a read of the log), a timer fills the gaps.
    const keepAliveMs = intOf(c.req.query('keepalive_ms'), 'keepalive_ms', 1, MAX_KEEPALIVE_MS) ?? MAX_KEEPALIVE_MS;
    const kf = c.req.query('key_format') ?? 'string';
    const vf = c.req.query('value_format') ?? 'json';
    if (!KEY_FORMATS.has(kf)) throw new SamsaError('INVALID_REQUEST', 'key_format must be string, json or base64', { field: 'key_format' });
    if (!VALUE_FORMATS.has(vf)) throw new SamsaError('INVALID_REQUEST', 'value_format must be json, string or base64', { field: 'value_format' });

    // Errors before the stream opens (no topic, another incarnation than `topic_id`, offset out
    // of range) are ordinary JSON answers. The session reads the one incarnation it opened on: a
    // deletion under it is an `error` event, never the next topic of the name at this position.
    // Bounded as the fetch route's schema bounds it (the tail answers before that schema runs).
    const topicId = c.req.query('topic_id') || undefined;
    if (topicId !== undefined && topicId.length > MAX_TOPIC_ID_CHARS) {
      throw new SamsaError('INVALID_REQUEST', `topic_id must be at most ${MAX_TOPIC_ID_CHARS} characters (a topic's id, from x-samsa-topic-id)`, { field: 'topic_id' });
    }
    const topic = await readIncarnation(engine, topicName, partition, topicId);
    const first = await engine.fetch(topicName, partition, { topic, ...(offset !== undefined ? { offset } : {}), maxRecords, maxBytes, maxDecodedBytes, signal: c.req.raw.signal });
    const deadline = Date.now() + sessionMs;
    c.header('X-Keepalive-Ms', String(keepAliveMs));
    c.header(TOPIC_ID_HEADER, topic.id);
    return streamSSE(c, async (stream) => {
      const aborted = new AbortController();
      stream.onAbort(() => aborted.abort());
      // Every write re-arms the keep-alive: a comment goes out only after keepAliveMs of silence.
      let keepAlive: NodeJS.Timeout | undefined;
      let over = false;
      const arm = (): void => {
        clearTimeout(keepAlive);
        if (over) return; // a write that resolves after the session ended re-arms nothing
        keepAlive = setTimeout(() => void stream.write(': keep-alive\n\n').then(arm, () => undefined), keepAliveMs);
      };
      const send = async (write: Promise<unknown>): Promise<void> => {
        await write;
        arm();
      };
      let result = first;
      let next = first.nextOffset;
      let sent = 0;
      try {
        for (;;) {
          const records = result.records();
          if (records.length > 0) {
            next = result.nextOffset;
            const data = JSON.stringify({
              records: records.map((r) => recordToJson(r, kf as KeyFormat, vf as ValueFormat)),
              next_offset: next,
              high_watermark: result.highWatermark,
            });
            sent += Buffer.byteLength(data);
            await send(stream.writeSSE({ id: String(next), event: 'records', data }));
          } else {
            await send(stream.write(': waiting\n\n'));
          }
          const left = deadline - Date.now();
          if (aborted.signal.aborted || left <= 0) break;
          // Past the burst the platform streams slowly: a reconnect is faster (and billed less).
          if (opts.maxSessionBytes !== undefined && sent >= opts.maxSessionBytes) break;
          try {
            result = await engine.fetch(topicName, partition, { topic, offset: next, maxRecords, maxBytes, maxDecodedBytes, waitMs: Math.min(WAIT_MS, left), signal: aborted.signal });
          } catch (err) {
            if (aborted.signal.aborted) return;
            // Retention passed the tail, or the topic went away: say so, then end the session.
            const e = publicError(err)?.toJSON() ?? { error_code: 'UNKNOWN_SERVER_ERROR', message: 'the tail failed; reconnect with Last-Event-ID' };
            await stream.writeSSE({ event: 'error', data: JSON.stringify(e) });
            return;
          }
        }
        if (!aborted.signal.aborted) await stream.writeSSE({ event: 'end', id: String(next), data: JSON.stringify({ next_offset: next, reason: 'session limit; reconnect with Last-Event-ID' }) });
      } finally {
        over = true;
        clearTimeout(keepAlive);
      }
    });
  };
}
