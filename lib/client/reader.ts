// Reading one partition from an offset the cheapest way the server allows (issue 15):
//   - far behind (at least `bulkThresholdRecords` below the high watermark): bulk reads. The
//     segments route hands out byte ranges of sealed segments with a URL each — a presigned S3
//     GET on AWS, which the client fetches directly (no function in the path, no 6 MB response
//     limit), or a route of the server in embedded mode — and the bytes, plain RecordBatch v2,
//     are decoded by the project's codec (lib/records);
//   - otherwise, and for the unsealed tail the segments do not cover: the fetch route;
//   - caught up and following: the live tail (SSE, one event per batch, resumed from the last
//     event id), or short polls (a fetch every pollIntervalMs), which is also what happens where
//     the deployment cannot stream (a buffered Lambda answers 400 on `follow`).
import { ATTR_CONTROL, decodeBatches } from '../records';
import { SamsaClientError, SamsaConnectionError } from './errors';
import { fetchPartition, type PartitionFetch } from './fetch';
import { type HttpClient, RECORD_BATCH_TYPE, seg } from './http';
import type { ConsumedMessage } from './messages';
import { backoff, DEFAULT_RETRY } from './retry';
import { abortableSleep } from '../util/sleep';


/** Bulk reads from this many records behind: below it a fetch or two is as quick and cheaper. */
export const DEFAULT_BULK_THRESHOLD_RECORDS = 10_000;
/** Bytes asked of one segments call (its URLs are fetched one after another). */
export const BULK_CALL_BYTES = 64 * 1024 * 1024;

export interface ReadOptions {
  /** Switch to bulk reads when at least this many records behind (default 10000; Infinity: never). */
  bulkThresholdRecords?: number;
  /** Bytes per fetch (default 1 MiB). */
  maxBytes?: number;
  /** Once caught up, keep reading as records arrive (default false: stop at the end). */
  follow?: boolean;
  /** How a follower waits: the live tail (default), or short polls. */
  followWith?: 'tail' | 'poll';
  /**
   * Polling: the pause between fetches that found nothing (default 1000 ms). Fetches do not wait
   * at the server: on Lambda a waiting request bills its whole wait (README, cost).
   */
  pollIntervalMs?: number;
  /** With follow: the longest tail session asked for (the server may end it sooner). */
  tailSessionMs?: number;
  /**
   * With follow: the keep-alive interval asked of the tail (1-15000 ms, default 5000). A tail
   * that stays silent for the interval the server confirms plus the client's request timeout
   * is taken for a dead connection (one that dropped without a FIN or a reset) and reopened.
   */
  keepAliveMs?: number;
  signal?: AbortSignal;
}

export interface ReadChunk extends PartitionFetch {
  /** How these records came: a bulk read past the API, the fetch route, or the live tail. */
  source: 'bulk' | 'fetch' | 'tail';
}

function toMessages(bytes: Uint8Array, from: number): { messages: ConsumedMessage[]; next: number } {
  const messages: ConsumedMessage[] = [];
  let next = from;
  for (const { header, records } of decodeBatches(bytes)) {
    next = Math.max(next, header.baseOffset + header.lastOffsetDelta + 1);
    if (header.attributes & ATTR_CONTROL) continue;
    for (const r of records) {
      if (r.offset < from) continue;
      messages.push({
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key === null ? null : Buffer.from(r.key),
        value: r.value === null ? null : Buffer.from(r.value),
        headers: Object.fromEntries(r.headers.map((h) => [h.key, h.value === null ? null : Buffer.from(h.value)])),
      });
    }
  }
  return { messages, next };
}

interface SegmentsAnswer {
  segments: Array<{ base_offset: number; last_offset: number; url: string; range: string }>;
  next_offset: number;
  log_start_offset: number;
  high_watermark: number;
}

/**
 * GET one bulk URL: through the client (signed) when it is the server's, directly when presigned.
 * The body may be large and slow, so there is no deadline for the whole; but a connection that
 * died without a FIN or a reset sends nothing at all, and a wait of the request timeout without
 * a byte (the answer's headers included) gives it up: a retriable SamsaConnectionError.
 */
async function getRange(http: HttpClient, url: string, range: string, signal?: AbortSignal): Promise<Uint8Array> {
  const u = new URL(url);
  const idle = new SilenceWatchdog(http.config.requestTimeout ?? 30_000, signal);
  idle.arm();
  try {
    let res: Response;
    if (u.origin === http.base.origin) {
      // The URL's query (topic_id: the incarnation it was handed out for) goes along, so the route
      // refuses a URL that outlived its topic instead of serving the new topic's bytes.
      const query = Object.fromEntries(u.searchParams);
      res = await http.open('GET', u.pathname, { query, headers: { range }, accept: RECORD_BATCH_TYPE, signal: idle.signal, what: `bulk read ${u.pathname}` });
    } else {
      // A presigned URL carries its own authorization; the client's credentials stay home.
      res = await fetch(url, { headers: { range }, signal: idle.signal });
      if (res.status !== 206 && res.status !== 200) throw new SamsaClientError('BULK_READ_FAILED', `bulk read answered ${res.status}: ${(await res.text()).slice(0, 200)}`, { status: res.status, retriable: res.status >= 500 });
    }
    const parts: Uint8Array[] = [];
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        idle.arm();
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
      }
    }
    return parts.length === 1 ? parts[0]! : new Uint8Array(Buffer.concat(parts));
  } catch (err) {
    if (idle.fired && !signal?.aborted) throw new SamsaConnectionError(`bulk read ${u.pathname}: nothing for ${idle.ms} ms (the request timeout): the connection is taken for dead`, err);
    throw err;
  } finally {
    idle.stop();
  }
}

/**
 * A connection that died without a FIN or a reset says nothing at all, and a read from it waits
 * for ever. `signal` (the caller's, if any, or this) aborts once `ms` pass without an `arm()`;
 * every byte received re-arms it.
 */
class SilenceWatchdog {
  private readonly dead = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  readonly signal: AbortSignal;
  constructor(
    public ms: number,
    outer?: AbortSignal,
  ) {
    this.signal = outer ? AbortSignal.any([outer, this.dead.signal]) : this.dead.signal;
  }
  arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.dead.abort(), this.ms);
    this.timer.unref();
  }
  stop(): void {
    clearTimeout(this.timer);
  }
  /** The silence lasted `ms`: the connection is taken for dead. */
  get fired(): boolean {
    return this.dead.signal.aborted;
  }
}

/**
 * Reads sealed segments from `offset` until none is left (or after `maxCalls` segments calls);
 * yields a chunk per range.
 */
export async function* bulkRead(http: HttpClient, topic: string, partition: number, offset: number, signal?: AbortSignal, maxCalls = Infinity, topicId?: string): AsyncGenerator<ReadChunk> {
  let pos = offset;
  for (let call = 0; call < maxCalls; call++) {
    const answer = await http.json<SegmentsAnswer>('GET', `/v1/topics/${seg(topic)}/partitions/${partition}/segments`, {
      query: { offset: pos, max_bytes: BULK_CALL_BYTES, topic_id: topicId },
      ...(signal ? { signal } : {}),
      what: `segments of ${topic}/${partition}`,
    });
    if (answer.segments.length === 0) return;
    for (const s of answer.segments) {
      const { messages, next } = toMessages(await getRange(http, s.url, s.range, signal), pos);
      // A range always ends on a batch boundary at s.last_offset.
      pos = Math.max(pos, next, s.last_offset + 1);
      yield { messages, nextOffset: pos, highWatermark: answer.high_watermark, logStartOffset: answer.log_start_offset, source: 'bulk' };
    }
  }
}

interface TailEvent {
  records: Array<{ offset: number; timestamp: number; key: string | null; value: string | null; headers: Array<{ key: string; value: string | null; value_encoding?: string }> }>;
  next_offset: number;
  high_watermark: number;
}

const b64 = (s: string | null): Buffer | null => (s === null ? null : Buffer.from(s, 'base64'));

/** The keep-alive a tail asks for when the caller names none. */
export const DEFAULT_TAIL_KEEPALIVE_MS = 5000;
/** What a server that does not say (X-Keepalive-Ms) keeps to: a comment after each 15 s wait. */
const SERVER_KEEPALIVE_MS = 15_000;

/**
 * One live-tail session from `offset`: yields a chunk per `records` event; returns the offset to
 * resume from when the server ends the session. Throws SamsaClientError (400, field follow)
 * where the deployment cannot stream, and SamsaConnectionError when the connection drops or
 * falls silent for longer than the server's keep-alive plus the request timeout.
 */
async function* tailSession(http: HttpClient, topic: string, partition: number, offset: number, opts: ReadOptions, topicId?: string): AsyncGenerator<ReadChunk, number> {
  const requestTimeout = http.config.requestTimeout ?? 30_000;
  // Silence past the keep-alive asked for plus the request timeout (the answer's headers
  // included) is a dead connection.
  const idle = new SilenceWatchdog((opts.keepAliveMs ?? DEFAULT_TAIL_KEEPALIVE_MS) + requestTimeout, opts.signal);
  const signal = idle.signal;
  const silent = (err: unknown): SamsaConnectionError =>
    new SamsaConnectionError(`the tail of ${topic}/${partition} went silent for ${idle.ms} ms (keep-alive plus the request timeout): the connection is taken for dead`, err);
  idle.arm();
  let res: Response;
  try {
    res = await http.open('GET', `/v1/topics/${seg(topic)}/partitions/${partition}/records`, {
      query: { offset, follow: 'true', key_format: 'base64', value_format: 'base64', max_session_ms: opts.tailSessionMs, keepalive_ms: opts.keepAliveMs ?? DEFAULT_TAIL_KEEPALIVE_MS, topic_id: topicId },
      accept: 'text/event-stream',
      headers: { 'last-event-id': String(offset) },
      signal,
      what: `tail ${topic}/${partition}`,
    });
  } catch (err) {
    idle.stop();
    if (idle.fired && !opts.signal?.aborted) throw silent(err);
    throw err;
  }
  const confirmed = Number(res.headers.get('x-keepalive-ms') ?? NaN);
  idle.ms = (Number.isFinite(confirmed) && confirmed > 0 ? confirmed : SERVER_KEEPALIVE_MS) + requestTimeout;
  idle.arm();
  let pos = offset;
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      let read: Awaited<ReturnType<typeof reader.read>>;
      try {
        read = await reader.read();
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        if (idle.fired) throw silent(err);
        // The stream's connection dropped (an idle timeout, a proxy, a restart): resumable.
        throw new SamsaConnectionError(`the tail of ${topic}/${partition} was cut: ${(err as { cause?: { message?: string } })?.cause?.message ?? (err as Error)?.message ?? String(err)}`, err);
      }
      const { done, value } = read;
      if (done) return pos;
      idle.arm();
      buf += value;
      for (let cut = buf.indexOf('\n\n'); cut >= 0; cut = buf.indexOf('\n\n')) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const fields = new Map<string, string>();
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue; // keep-alive comment
          const colon = line.indexOf(':');
          if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).replace(/^ /, ''));
        }
        const event = fields.get('event');
        if (event === 'records') {
          const data = JSON.parse(fields.get('data') ?? '{}') as TailEvent;
          const messages: ConsumedMessage[] = data.records.map((r) => ({
            offset: r.offset,
            timestamp: r.timestamp,
            key: b64(r.key),
            value: b64(r.value),
            headers: Object.fromEntries(r.headers.map((h) => [h.key, h.value === null ? null : Buffer.from(h.value, h.value_encoding === 'base64' ? 'base64' : 'utf8')])),
          }));
          pos = Math.max(pos, data.next_offset);
          // The caller's time with the chunk is not the connection's silence.
          idle.stop();
          yield { messages, nextOffset: pos, highWatermark: data.high_watermark, logStartOffset: NaN, source: 'tail' };
          idle.arm();
        } else if (event === 'end') {
          return pos;
        } else if (event === 'error') {
          const e = JSON.parse(fields.get('data') ?? '{}') as { error_code?: string; message?: string };
          throw new SamsaClientError(e.error_code ?? 'UNKNOWN_SERVER_ERROR', e.message ?? 'the tail failed', { details: e as Record<string, unknown> });
        }
      }
    }
  } finally {
    idle.stop();
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * The records of one partition from `offset` on, in order, as chunks. Stops at the end unless
 * `follow`; stops when `signal` aborts.
 */
export async function* readPartition(http: HttpClient, topic: string, partition: number, offset: number, opts: ReadOptions = {}): AsyncGenerator<ReadChunk> {
  const threshold = opts.bulkThresholdRecords ?? DEFAULT_BULK_THRESHOLD_RECORDS;
  let pos = offset;
  let tail = (opts.followWith ?? 'tail') === 'tail';
  const retry = { ...DEFAULT_RETRY, ...http.config.retry };
  let tailFailures = 0;
  let bulkFailures = 0;
  // The incarnation the first answer came from: every later request names it, so a topic
  // deleted and created again under the read fails it (UNKNOWN_TOPIC_OR_PARTITION) instead of
  // going on in the new topic from this position, skipping its first records.
  let topicId: string | undefined;
  while (!opts.signal?.aborted) {
    let r: PartitionFetch;
    try {
      r = await fetchPartition(http, topic, partition, pos, { ...(opts.maxBytes ? { maxBytes: opts.maxBytes } : {}), ...(topicId ? { topicId } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
      topicId ??= r.topicId;
    } catch (err) {
      // Following, a server out of reach for longer than one request's retries (a restart, a
      // deploy) is waited out within the budget a broken tail has: the position has not moved,
      // so the read goes on from there, nothing skipped or repeated. A plain read fails.
      if (!(opts.follow && err instanceof SamsaClientError && err.retriable && !opts.signal?.aborted && tailFailures < retry.retries)) throw err;
      await abortableSleep(backoff(retry, tailFailures++), opts.signal);
      continue;
    }
    if (r.nextOffset > pos || r.messages.length > 0) {
      tailFailures = 0;
      pos = r.nextOffset;
      yield { ...r, source: 'fetch' };
      if (Number.isFinite(r.highWatermark) && r.highWatermark - pos >= threshold) {
        try {
          for await (const chunk of bulkRead(http, topic, partition, pos, opts.signal, Infinity, topicId)) {
            pos = chunk.nextOffset;
            bulkFailures = 0;
            yield chunk;
          }
        } catch (err) {
          // A range that failed (a dead connection, a failing server): back off, then go on from
          // the last range delivered, through the fetch route and the bulk reads again.
          if (!(err instanceof SamsaClientError && err.retriable && !opts.signal?.aborted && bulkFailures < retry.retries)) throw err;
          await abortableSleep(backoff(retry, bulkFailures++), opts.signal);
        }
      }
      continue;
    }
    // Caught up.
    if (!opts.follow) return;
    if (tail) {
      // The position moves with every chunk yielded, so a session that fails part-way resumes
      // after what it delivered, not from where it started.
      const session = tailSession(http, topic, partition, pos, opts, topicId);
      try {
        for (;;) {
          const n = await session.next();
          if (n.done) {
            pos = n.value;
            break;
          }
          pos = n.value.nextOffset;
          tailFailures = 0;
          yield n.value;
        }
        continue;
      } catch (err) {
        // A deployment that cannot stream says so once; the rest of the read polls.
        if (err instanceof SamsaClientError && err.status === 400 && err.details['field'] === 'follow') tail = false;
        else if (err instanceof SamsaClientError && err.retriable && !opts.signal?.aborted && tailFailures < retry.retries) {
          // A dropped stream or a failing server: back off, then fetch what came meanwhile and
          // open the tail again from there.
          await abortableSleep(backoff(retry, tailFailures++), opts.signal);
          continue;
        } else throw err;
      } finally {
        await session.return(pos).catch(() => undefined);
      }
    }
    await abortableSleep(opts.pollIntervalMs ?? 1000, opts.signal);
  }
}
