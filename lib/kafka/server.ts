// The Kafka listener: a TCP (or TLS) server that reads size-prefixed request frames, answers
// each through the API table (apis.ts) and writes the responses in request order, as Kafka
// clients require. Anything that does not parse — a truncated header, a length past
// socket.request.max.bytes, an API or version it does not speak — closes that connection
// only; nothing a client sends can throw past the connection handler.
//
//   Request  => Size INT32, RequestHeader, body      (Size counts what follows it)
//   Response => Size INT32, correlation_id INT32, [TAG_BUFFER if flexible], body
import net from 'node:net';
import tls from 'node:tls';
import { allowedOnAny, ANONYMOUS, authorize, CLUSTER_NAME } from '../auth/acl';
import { apiKeyAuthenticator } from '../auth/principal';
import type { QuotaKind } from '../auth/quota';
import type { GroupCoordinator } from '../groups/coordinator';
import type { AuthOptions } from '../http/authz';
import type { LogEngine } from '../log/engine';
import type { Logger } from '../obs/logger';
import { APIS, apiVersionsBody } from './apis';
import { type Authorizer, CloseConnection, type Context, type Node, type Session } from './context';
import { KafkaCluster } from './cluster';
import { plainLogin } from './sasl';
import { KafkaGroups } from './groups';
import { ErrorCode, MalformedFrame, Reader, readRequestHeader, type Writer } from './protocol';

/** Kafka's socket.request.max.bytes default. */
export const DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024;
/**
 * Bytes of request frames all connections together may hold, being received or in work
 * (Kafka's queued.max.request.bytes, unbounded there by default). One frame may always be held,
 * whatever its size, so a bound below socket.request.max.bytes cannot wedge the listener.
 */
export const DEFAULT_MAX_QUEUED_BYTES = 256 * 1024 * 1024;
/** Largest frame before SASL authentication: Kafka's sasl.server.max.receive.size default. */
export const MAX_PRE_AUTH_FRAME = 512 * 1024;
/** Requests of one connection being worked on at once before it stops reading (back-pressure). */
const MAX_IN_FLIGHT = 32;
const API_VERSIONS = 18;
const PRODUCE = 0;
const LIST_OFFSETS = 2;
const OFFSET_COMMIT = 8;
const OFFSET_FETCH = 9;
const JOIN_GROUP = 11;
const LEAVE_GROUP = 13;
/**
 * Requests whose quota waits keep request order among themselves, so that each handler starts
 * after those of the connection's earlier commits (group-apis.ts orders them by where the
 * handlers start): OffsetCommit and what must not overtake one.
 */
const COMMIT_ORDERED = new Set([OFFSET_COMMIT, OFFSET_FETCH, JOIN_GROUP, LEAVE_GROUP]);
const FETCH = 1;
/** Longest a request is held back for quota (Kafka caps throttle time at the quota window too). */
const MAX_THROTTLE_MS = 30_000;
const IDLE_MS = 10 * 60 * 1000;
/** close(): how long requests in work may take to be answered before the connections are cut. */
const CLOSE_DRAIN_MS = 5000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export interface KafkaListenerOptions {
  engine: LogEngine;
  coordinator: GroupCoordinator;
  port: number;
  host: string;
  /** host:port Metadata and FindCoordinator name (default host:port of the listener). */
  advertised?: string;
  maxRequestBytes?: number;
  /** Bytes of request frames all connections may hold at once (DEFAULT_MAX_QUEUED_BYTES). */
  maxQueuedBytes?: number;
  /** The HTTP API's auth: same principals, same ACLs. Undefined or mode none: everyone may do anything. */
  auth?: AuthOptions;
  /** API keys (principal → secret) for SASL/PLAIN, when auth is keys. */
  apiKeys?: ReadonlyMap<string, string>;
  tls?: { cert: string | Buffer; key: string | Buffer };
  logger?: Logger;
  clusterId?: string;
}

export interface KafkaListener {
  port: number;
  node: Node;
  groups: KafkaGroups;
  /** Connections whose reading is paused right now (back-pressure), for tests and metrics. */
  pausedConnections(): number;
  /** Bytes of request frames held right now, received (in part or whole) or in work. */
  queuedBytes(): number;
  close(): Promise<void>;
}

/** A stable node id for an advertised address: every instance advertises itself as one broker. */
export function nodeIdFor(advertised: string): number {
  let h = 0;
  for (const c of advertised) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  return h & 0x7fffffff;
}

export function parseAdvertised(spec: string, fallbackPort: number): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(spec.trim());
  if (!m) return { host: spec.trim(), port: fallbackPort };
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}

/**
 * The listener's byte budget for request frames. A connection takes a frame's size from it as
 * soon as it reads the size, before buffering the frame, and gives it back when the request is
 * answered (or the connection dies); a connection that cannot take waits, not reading, until
 * bytes come back.
 */
class FrameBytes {
  used = 0;
  private readonly waiting = new Set<() => void>();
  constructor(readonly max: number) {}
  /** Takes `n` if it fits, or if nothing is held (one frame always may be). */
  take(n: number): boolean {
    if (this.used > 0 && this.used + n > this.max) return false;
    this.used += n;
    return true;
  }
  give(n: number): void {
    if (n === 0) return;
    this.used -= n;
    const woken = [...this.waiting];
    this.waiting.clear();
    for (const w of woken) w();
  }
  /** `wake` runs once, after the next give (or never, if cancelled). */
  wait(wake: () => void): void {
    this.waiting.add(wake);
  }
  cancel(wake: () => void): void {
    this.waiting.delete(wake);
  }
}

const isLoopback = (addr: string | undefined): boolean => addr !== undefined && (addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.'));

export async function startKafkaListener(opts: KafkaListenerOptions): Promise<KafkaListener> {
  const groups = new KafkaGroups();
  const maxBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const frameBytes = new FrameBytes(opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES);
  const enforcing = opts.auth !== undefined && opts.auth.mode !== 'none';
  const closing = new AbortController();
  const sockets = new Set<net.Socket>();
  /** Per connection: the answer of its last request started (all earlier ones are written before it). */
  const lastAnswers = new Map<net.Socket, () => Promise<void>>();

  const authorizer: Authorizer = async (s, op, type, name) => {
    if (!enforcing) return true;
    const a = opts.auth!;
    const principal = s.principal ?? ANONYMOUS;
    if (a.superUsers.has(principal)) return true;
    const acls = await a.acls.all();
    if (type === 'cluster' && op === 'write') {
      // IdempotentWrite: implied by write on any topic (KIP-679), as for POST /v1/producers.
      return allowedOnAny(acls, a.superUsers, principal, 'write', 'topic') || authorize(acls, a.superUsers, principal, 'write', { type: 'cluster', name: CLUSTER_NAME }).allowed;
    }
    if (type === 'topic' && op === 'create' && authorize(acls, a.superUsers, principal, 'create', { type: 'cluster', name: CLUSTER_NAME }).allowed) return true;
    return authorize(acls, a.superUsers, principal, op, { type, name }).allowed;
  };

  /**
   * The HTTP API's quotas (lib/auth/quota.ts), the same shared buckets: request_rate per
   * request, producer_byte_rate by Produce frame size, consumer_byte_rate by Fetch response
   * size (charged afterwards, paid by the next Fetch). Where HTTP refuses with 429, Kafka
   * throttles instead (KIP-219): the request waits until the bucket has room, then runs. After
   * MAX_THROTTLE_MS it runs anyway and the units are owed. A waiting request also holds back
   * the connection's later answers (they leave in order).
   */
  const quotaDelay = async (s: Session, apiKey: number, frameBytes: number): Promise<void> => {
    const a = opts.auth;
    if (!a) return;
    const principal = s.principal ?? ANONYMOUS;
    const q = await a.quotas.of(principal);
    if (!q) return;
    const deadline = Date.now() + MAX_THROTTLE_MS;
    const take = async (kind: QuotaKind, amount: number): Promise<void> => {
      const rate = q[kind];
      if (rate === undefined) return;
      for (;;) {
        const r = await a.limiter.admit(principal, kind, rate, amount);
        if (r.ok) return;
        const left = deadline - Date.now();
        if (left <= 0 || closing.signal.aborted) {
          a.limiter.charge(principal, kind, amount);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(r.retryAfterMs, 10), left)));
      }
    };
    await take('request_rate', 1);
    if (apiKey === PRODUCE) await take('producer_byte_rate', frameBytes);
    if (apiKey === FETCH) await take('consumer_byte_rate', 0);
  };
  const chargeFetch = (s: Session, bytes: number): void => {
    if (opts.auth) void opts.auth.quotas.of(s.principal ?? ANONYMOUS).then((q) => q?.consumer_byte_rate !== undefined && opts.auth!.limiter.charge(s.principal ?? ANONYMOUS, 'consumer_byte_rate', bytes)).catch(() => undefined);
  };

  const keyCheck = opts.apiKeys && opts.apiKeys.size > 0 ? apiKeyAuthenticator(opts.apiKeys) : undefined;
  const authenticatePlain = keyCheck
    ? (user: string, password: string): string | undefined => {
        try {
          const principal = keyCheck({ header: (n) => (n === 'authorization' ? `Bearer ${password}` : undefined) });
          // The secret names the principal; the user name must be that principal.
          return principal === user || principal === `User:${user}` ? principal : undefined;
        } catch {
          return undefined;
        }
      }
    : undefined;

  // Known once the port is bound (port 0 picks one); connections only arrive after that.
  const bound: { node: Node; cluster?: KafkaCluster } = { node: { id: 0, host: opts.host, port: opts.port } };
  const ctxBase = (): Context => ({
    engine: opts.engine,
    coordinator: opts.coordinator,
    groups,
    cluster: bound.cluster!,
    node: bound.node,
    clusterId: opts.clusterId ?? 'samsa',
    authorize: authorizer,
    ...(authenticatePlain ? { authenticatePlain } : {}),
    signal: closing.signal,
  });

  const onConnection = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.setNoDelay(true);
    // Kafka's connections.max.idle.ms: a connection silent this long is closed (clients reconnect).
    socket.setTimeout(IDLE_MS, () => kill('idle'));
    const remote = socket.remoteAddress;
    // Anonymous only on loopback when auth is on: others must authenticate with SASL first.
    const session: Session = { principal: enforcing ? undefined : ANONYMOUS, clientHost: remote ?? '', authenticated: !enforcing || isLoopback(remote) };
    if (enforcing && session.authenticated) session.principal = ANONYMOUS;
    const ctx = ctxBase();
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let inFlight = 0;
    /** Bytes of the request frames in work: bounded by socket.request.max.bytes (see canTake). */
    let inFlightBytes = 0;
    /** Bytes taken from the listener's budget for the frame being received (its whole size). */
    let receiving = 0;
    /** Waiting for the listener's budget to take the next frame's size. */
    let starved = false;
    const onBudget = (): void => {
      starved = false;
      throttle();
    };
    let tail: Promise<void> = Promise.resolve();
    /**
     * The last Produce (and the last OffsetCommit or OffsetFetch) request's quota wait: the next
     * one starts after it (see handleFrame).
     */
    let produceQuotaTail: Promise<void> = Promise.resolve();
    let commitQuotaTail: Promise<void> = Promise.resolve();
    /** Settles once every Produce this connection started so far is through (applied or failed). */
    let producesDone: Promise<void> = Promise.resolve();
    let dead = false;
    lastAnswers.set(socket, () => tail);

    const kill = (why: string): void => {
      if (dead) return;
      dead = true;
      session.closed = true;
      dropReceiving();
      opts.logger?.debug('kafka connection closed', { remote, reason: why });
      socket.destroy();
    };
    // Whether another request may start: fewer than MAX_IN_FLIGHT in work, their frames holding
    // less than socket.request.max.bytes (one request always may), and the socket's write buffer
    // below its high-water mark. Frames already received wait in `pending` too. Without the byte
    // bound one connection could hold 32 requests of socket.request.max.bytes (3.2 GB at the
    // default) that the engine is slow to take, such as produces held by a quota wait.
    // And the listener's budget had room for the next frame (starved: it had not).
    const canTake = (): boolean => !starved && inFlight < MAX_IN_FLIGHT && (inFlight === 0 || inFlightBytes < maxBytes) && !socket.writableNeedDrain;
    /** Gives back the budget of a frame that will not be handed on (the connection died). */
    function dropReceiving(): void {
      frameBytes.cancel(onBudget);
      const n = receiving;
      receiving = 0;
      frameBytes.give(n);
    }
    const throttle = (): void => {
      if (dead) return;
      if (!canTake()) socket.pause();
      else {
        socket.resume();
        pump();
      }
    };
    socket.on('drain', throttle);
    socket.on('error', () => kill('socket error'));
    socket.on('close', () => {
      dead = true;
      session.closed = true;
      dropReceiving();
      sockets.delete(socket);
      lastAnswers.delete(socket);
    });

    /**
     * Starts the request in `frame`, which holds `held` bytes of the listener's budget; true when
     * it is in work (and gives them back once answered).
     */
    const handleFrame = (frame: Buffer, held: number): boolean => {
      if (session.saslRawNext) {
        // After a v0 SaslHandshake the next frame is the bare SASL token, not a request
        // (KIP-43): answered with an empty token on success; a failure closes the connection.
        session.saslRawNext = false;
        const failure = plainLogin(ctx, session, frame);
        const prev = tail;
        tail = prev.then(() => {
          if (dead) return;
          if (failure !== null) return kill(`SASL/PLAIN v0: ${failure}`);
          socket.write(Buffer.alloc(4));
        });
        return false;
      }
      let header: ReturnType<typeof readRequestHeader>;
      const r = new Reader(frame);
      try {
        header = readRequestHeader(r);
      } catch {
        kill('malformed request header');
        return false;
      }
      const api = APIS.get(header.apiKey);
      let work: Promise<Writer | null>;
      let flexible = false;
      if (!api || header.apiVersion < api.min || header.apiVersion > api.max) {
        if (header.apiKey !== API_VERSIONS) {
          kill(`unsupported api ${header.apiKey} v${header.apiVersion}`);
          return false;
        }
        // An ApiVersions newer than ours: answer v0 with UNSUPPORTED_VERSION and our ranges,
        // so the client retries with a version we speak (KIP-511).
        work = Promise.resolve(apiVersionsBody(0, ErrorCode.UNSUPPORTED_VERSION));
      } else {
        flexible = api.flexibleFrom !== undefined && header.apiVersion >= api.flexibleFrom;
        if (!session.authenticated && !api.preAuth) {
          kill(`${api.name} before SASL authentication`);
          return false;
        }
        try {
          if (flexible) r.taggedFields();
        } catch {
          kill('malformed request header');
          return false;
        }
        if (api.preAuth) work = api.handle(ctx, session, header, r);
        else {
          // Produce and OffsetCommit/OffsetFetch/JoinGroup/LeaveGroup quota waits run in request
          // order: a later produce that fits the bucket must not overtake one still waiting (it
          // would reorder a producer's writes to a partition), nor a later commit an earlier one
          // (the earlier offset would win), nor a fetch of offsets the commits before it (it would
          // not read them), nor a join or leave the commits before it (it would fence them).
          // Other requests are not held behind them (a heartbeat still runs at once).
          const delay = (): Promise<void> => quotaDelay(session, header.apiKey, frame.length);
          let admitted: Promise<void>;
          if (header.apiKey === PRODUCE) produceQuotaTail = (admitted = produceQuotaTail.then(delay)).catch(() => undefined);
          else if (COMMIT_ORDERED.has(header.apiKey)) commitQuotaTail = (admitted = commitQuotaTail.then(delay)).catch(() => undefined);
          else admitted = delay();
          if (header.apiKey === FETCH || header.apiKey === LIST_OFFSETS) {
            // Read your writes: Kafka runs a connection's requests one at a time, so a Fetch or
            // ListOffsets sent after a Produce reads what it wrote. Produces still run
            // concurrently with each other (the throughput of a pipelining producer); a read
            // waits for those sent before it, as taken now, in request order.
            const before = producesDone;
            work = admitted.then(() => before).then(() => api.handle(ctx, session, header, r));
          } else work = admitted.then(() => api.handle(ctx, session, header, r));
          if (header.apiKey === PRODUCE) {
            const through = work.then(
              () => undefined,
              () => undefined,
            );
            producesDone = Promise.all([producesDone, through]).then(() => undefined);
          }
        }
      }
      inFlight++;
      inFlightBytes += frame.length;
      throttle();
      // Responses leave in request order whatever order the handlers finish in.
      const prev = tail;
      tail = (async () => {
        let body: Writer | null;
        try {
          body = await work;
        } catch (err) {
          await prev;
          inFlight--;
          inFlightBytes -= frame.length;
          frameBytes.give(held);
          if (err instanceof CloseConnection) {
            // Answered (if at all) in order, then closed once the answer is flushed.
            if (dead) return;
            if (err.body !== null) writeResponse(err.body);
            dead = true;
            opts.logger?.debug('kafka connection closed', { remote, reason: err.message });
            socket.end();
            return;
          }
          if (err instanceof MalformedFrame) return kill(`malformed ${api?.name ?? 'request'}: ${err.message}`);
          opts.logger?.warn('kafka request failed', { remote, api: api?.name, error: String((err as Error)?.stack ?? err) });
          return kill('request failed');
        }
        await prev;
        inFlight--;
        inFlightBytes -= frame.length;
        frameBytes.give(held);
        if (dead) return;
        if (body !== null) writeResponse(body);
        throttle();
      })();
      function writeResponse(body: Writer): void {
        const b = body.finish();
        if (header.apiKey === FETCH) chargeFetch(session, b.length);
        // ApiVersions answers with header v0 whatever its version (KIP-511).
        const tagged = flexible && header.apiKey !== API_VERSIONS;
        const head = Buffer.allocUnsafe(tagged ? 9 : 8);
        head.writeInt32BE(b.length + head.length - 4, 0);
        head.writeInt32BE(header.correlationId, 4);
        if (tagged) head[8] = 0;
        socket.write(head);
        socket.write(b);
      }
      return true;
    };

    // Bytes the frame being received needs in all (0: its size is not read yet), so a large
    // frame arriving in many chunks is joined once, not once per chunk.
    let needed = 0;
    let pumping = false;
    /** Starts the received frames while requests may start; the rest wait for throttle(). */
    function pump(): void {
      if (pumping) return;
      pumping = true;
      try {
        // Closing: no new request starts (those in work are answered; see close()).
        while (!dead && !closing.signal.aborted && canTake() && pendingBytes >= 4 && pendingBytes >= needed) {
          let buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
          const size = buf.readInt32BE(0);
          // Kafka's own bounds, checked before anything is buffered for the frame: before SASL
          // authentication a peer that has not said who it is may send only small frames.
          if (size < 0 || size > maxBytes) return kill(`frame of ${size} bytes (socket.request.max.bytes ${maxBytes})`);
          if (!session.authenticated && size > MAX_PRE_AUTH_FRAME) return kill(`frame of ${size} bytes before authentication (sasl.server.max.receive.size ${MAX_PRE_AUTH_FRAME})`);
          // Frames before authentication draw nothing from the budget: they are small, and an
          // unknown peer must not be able to starve authenticated ones by declaring frames it
          // never sends.
          if (receiving === 0 && size > 0 && session.authenticated) {
            if (!frameBytes.take(size)) {
              // The listener holds its fill of frames: read no more until some are answered.
              pending = [buf];
              starved = true;
              frameBytes.wait(onBudget);
              return;
            }
            receiving = size;
          }
          if (buf.length < 4 + size) {
            pending = [buf];
            needed = 4 + size;
            return;
          }
          needed = 0;
          const frame = Buffer.from(buf.subarray(4, 4 + size));
          buf = buf.subarray(4 + size);
          pending = buf.length > 0 ? [buf] : [];
          pendingBytes = buf.length;
          const held = receiving;
          receiving = 0;
          // In work, the request gives its bytes back once answered; otherwise they go back now.
          if (!handleFrame(frame, held)) frameBytes.give(held);
        }
      } finally {
        pumping = false;
      }
    }
    socket.on('data', (chunk: Buffer) => {
      if (dead) return;
      pending.push(chunk);
      pendingBytes += chunk.length;
      pump();
      // Frames left waiting: read no more until requests finish (throttle() resumes).
      if (!dead && !canTake()) socket.pause();
    });
  };

  const server = opts.tls ? tls.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onConnection) : net.createServer(onConnection);
  server.on('error', (err) => opts.logger?.error('kafka listener error', { error: String(err) }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  const adv = parseAdvertised(opts.advertised ?? `127.0.0.1:${port}`, port);
  const node: Node = { id: nodeIdFor(`${adv.host}:${adv.port}`), host: adv.host, port: adv.port };
  const cluster = new KafkaCluster(opts.engine.meta, node, () => groups.list().map((g) => g.groupId));
  Object.assign(bound, { node, cluster });
  await cluster.start();
  return {
    port,
    node,
    groups,
    pausedConnections: () => [...sockets].filter((s) => s.isPaused()).length,
    queuedBytes: () => frameBytes.used,
    close: async () => {
      // Graceful: no new connection and no new request; the requests in work are answered
      // (long polls return at once, parked joins get COORDINATOR_NOT_AVAILABLE), then the
      // connections end. Destroying them at once would leave produce requests applied but
      // unanswered, which their producers retry: duplicates on every restart. Bounded, so a
      // request stuck on the store does not hold the exit; frames not started are never answered
      // (nor applied), and their clients retry them elsewhere.
      closing.abort();
      groups.close();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.race([Promise.all([...lastAnswers.values()].map((answered) => answered())), sleep(CLOSE_DRAIN_MS)]);
      await cluster.stop();
      const open = [...sockets];
      const ended = Promise.all(open.map((s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())))));
      for (const s of open) s.end();
      await Promise.race([ended, sleep(1000)]);
      for (const s of sockets) s.destroy();
      await done;
    },
  };
}
