// One history run: a cluster (AWS mode on the emulator: several servers + job processes; or
// embedded: one server with its own job loop), a fault proxy in front of every server (and of
// the emulator), concurrent clients that record every op, a nemesis on a seeded schedule, and
// a final phase that heals everything and reads every partition and drains every group.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeRecordBatch } from '../../lib/records';
import { JobRunner, Server, setupAws, startEmulator, type Emulator } from './cluster';
import { freePort } from '../helpers/net';
import { Recorder, type Obs, type Op, type OpType } from './history';
import { type FaultRates, startProxy, type ProxyHandle } from './proxy';
import { mulberry32 } from '../helpers/mulberry32';

export interface RunOptions {
  mode: 'embedded' | 'aws';
  ops: number;
  seed: number;
  /** Stop the clients after this long even if `ops` were not reached. */
  durationMs: number;
  /** SIGSTOP length; AWS default exceeds the 30 s lease so a successor takes leases over. */
  pauseMs: number;
  /** Mean gap between nemesis actions. */
  nemesisIntervalMs: number;
  /** A client gives up on a request after this long (an indeterminate op). */
  clientTimeoutMs: number;
  historyFile: string;
  log: (line: string) => void;
}

export const TOPICS = [
  // Small segments roll often, so flush, segment creation and the reader's segment lookups are busy.
  { name: 'alpha', partitions: 3, churn: false },
  { name: 'churn', partitions: 2, churn: true },
] as const;
const TOPIC_CONFIG = { 'segment.bytes': 8192, 'retention.ms': -1 };
const GROUPS = [
  { name: 'g-explicit', mode: 'explicit' as const, members: 2 },
  { name: 'g-auto', mode: 'auto' as const, members: 2 },
];
const SESSION_TIMEOUT_MS = 10_000;
/** The storage proxy's background faults between bursts and storms. */
const calmStorage = (): FaultRates => ({ errorBefore: 0.01, dropResponse: 0.01, delay: 0.01, delayMs: [500, 4000] });

/** The schedule's PRNG (seedable: a seed replays a run's schedule). */
export const rng = mulberry32;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Reply {
  type: OpType;
  status?: number;
  json?: any;
  error?: string;
}

/** The HTTP side of a client: every call is one recorded op (or part of one). */
class Http {
  constructor(
    private readonly rec: Recorder,
    readonly endpoints: () => string[],
    private readonly random: () => number,
    private readonly timeoutMs: number,
  ) {}

  pick(): string {
    const e = this.endpoints();
    return e[Math.floor(this.random() * e.length)]!;
  }

  async request(id: number, method: string, url: string, body?: unknown, opts: { binary?: Uint8Array; timeoutMs?: number } = {}): Promise<Reply> {
    const headers: Record<string, string> = { 'x-history-op': String(id) };
    let payload: string | Uint8Array | undefined;
    if (opts.binary) {
      headers['content-type'] = 'application/vnd.kafka.record-batch';
      payload = opts.binary;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    try {
      const res = await fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs) });
      const text = await res.text();
      let json: any;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = { raw: text.slice(0, 200) };
      }
      // 4xx: refused, nothing applied (the contract: bad input never changes stored data).
      // 5xx: the server may have applied part of it or all of it: indeterminate.
      const type: OpType = res.status < 300 ? 'ok' : res.status < 500 ? 'fail' : 'info';
      return { type, status: res.status, json, ...(type !== 'ok' ? { error: `${json?.error_code ?? res.status}: ${String(json?.message ?? '').slice(0, 200)}` } : {}) };
    } catch (err) {
      return { type: 'info', error: String((err as Error).cause ?? (err as Error).message).slice(0, 200) };
    }
  }

  /** Records invoke, performs, records completion (with `done(reply)`'s extra fields on ok). */
  async op<T extends Op>(
    process: string,
    fields: Record<string, unknown>,
    method: string,
    urlPath: string,
    body?: unknown,
    done?: (r: Reply) => Record<string, unknown>,
    opts: { binary?: Uint8Array; timeoutMs?: number; base?: string } = {},
  ): Promise<{ reply: Reply; op: T }> {
    const id = this.rec.newId();
    this.rec.add({ ...fields, type: 'invoke', id, process } as never);
    const reply = await this.request(id, method, (opts.base ?? this.pick()) + urlPath, body, opts);
    const extra = reply.type === 'ok' && done ? done(reply) : {};
    const op = this.rec.add<T>({ ...fields, ...extra, type: reply.type, id, process, ...(reply.status !== undefined ? { status: reply.status } : {}), ...(reply.error ? { error: reply.error } : {}) } as never);
    // Back off after an indeterminate op (a server down or paused), as real clients do, so a
    // restart does not burn the op budget on refused connections.
    if (reply.type === 'info') await sleep(100 + this.random() * 300);
    return { reply, op };
  }
}

export async function runHistory(o: RunOptions): Promise<{ ops: Op[]; summary: Record<string, unknown> }> {
  const rec = new Recorder(o.historyFile);
  const master = rng(o.seed);
  const sub = (): (() => number) => rng(Math.floor(master() * 2 ** 32));
  const summary: Record<string, unknown> = { mode: o.mode, seed: o.seed };
  const cleanups: Array<() => Promise<void>> = [];
  const nemesisLog = (action: string, target?: string): void => {
    rec.add({ f: 'nemesis', action, ...(target ? { target } : {}), type: 'info', id: rec.newId(), process: 'nemesis' } as never);
    o.log(`[nemesis ${(rec.now() / 1000).toFixed(1)}s] ${action}${target ? ` ${target}` : ''}`);
  };

  try {
    // --- cluster -------------------------------------------------------------------------------
    const servers: Server[] = [];
    let jobs: JobRunner | undefined;
    let storageProxy: ProxyHandle | undefined;
    let emulator: Emulator | undefined;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `samsa-history-${o.mode}-`));
    cleanups.push(async () => void fs.rmSync(dataDir, { recursive: true, force: true }));
    if (o.mode === 'aws') {
      emulator = await startEmulator();
      cleanups.push(() => emulator!.stop());
      const r = sub();
      storageProxy = await startProxy(emulator.endpoint, r, calmStorage(), { kind: 'storage' });
      storageProxy.enabled = false; // on once the cluster is up
      cleanups.push(() => storageProxy!.close());
      const suffix = `${process.pid}-${o.seed}`.toLowerCase();
      const base = {
        SAMSA_STORAGE: 'aws',
        SAMSA_BUCKET: `samsa-history-${suffix}`,
        SAMSA_TABLE: `samsa-history-${suffix}`,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
      };
      await setupAws({ ...base, AWS_ENDPOINT_URL: emulator.endpoint });
      // Servers and jobs reach storage through the fault proxy; a short SDK timeout turns the
      // proxy's delays into timeouts of calls that may still apply. Chunks of 2 KiB in the
      // workload's 8 KiB segments: every segment is written in chunks and composed when it
      // closes (design note 0011), under the same faults.
      const env = { ...base, AWS_ENDPOINT_URL: storageProxy.url, SAMSA_AWS_REQUEST_TIMEOUT_MS: '3000', SAMSA_JOB_INTERVAL_MS: '0', SAMSA_FLUSH_DELAY_MS: '300', SAMSA_FLUSH_CHUNK_BYTES: '2048', SAMSA_LOG_LEVEL: 'warn' };
      for (let i = 0; i < 3; i++) servers.push(new Server(`server-${i}`, await freePort(), env));
      jobs = new JobRunner(env, 1500, 2);
    } else {
      servers.push(new Server('server-0', await freePort(), { SAMSA_STORAGE: 'embedded', SAMSA_DATA_DIR: dataDir, SAMSA_JOB_INTERVAL_MS: '300', SAMSA_FLUSH_DELAY_MS: '100', SAMSA_LOG_LEVEL: 'warn' }));
    }
    cleanups.push(async () => void (await Promise.all(servers.map((s) => s.kill9()))));
    await Promise.all(servers.map((s) => s.start()));
    const proxies: ProxyHandle[] = [];
    for (const s of servers) {
      const p = await startProxy(s.url, sub(), { dropResponse: 0.03, duplicate: 0.03 }, {
        kind: 'samsa',
        onDuplicate: (op) => rec.add({ f: 'proxy-dup', op, type: 'ok', id: rec.newId(), process: 'proxy' } as never),
      });
      proxies.push(p);
      cleanups.push(() => p.close());
    }
    const direct = (): string[] => servers.filter((s) => s.alive && !s.paused).map((s) => s.url);
    const admin = new Http(rec, () => (direct().length ? direct() : servers.map((s) => s.url)), sub(), o.clientTimeoutMs);
    for (const t of TOPICS) {
      const r = await admin.request(0, 'POST', `${admin.pick()}/v1/topics`, { name: t.name, partitions: t.partitions, config: TOPIC_CONFIG });
      if (r.status !== 201) throw new Error(`creating ${t.name}: ${r.status} ${JSON.stringify(r.json)}`);
    }
    if (storageProxy) storageProxy.enabled = true;
    jobs?.start();
    if (jobs) cleanups.push(() => jobs!.stop());

    // --- clients -------------------------------------------------------------------------------
    let budget = o.ops;
    const deadline = Date.now() + o.durationMs;
    const more = (): boolean => budget-- > 0 && Date.now() < deadline;
    const endpoints = (): string[] => proxies.map((p) => p.url);
    let seq = 0;
    const uniq = (proc: string): string => `${proc}-${++seq}`;

    const jsonProducer = async (proc: string, r: () => number): Promise<void> => {
      const http = new Http(rec, endpoints, r, o.clientTimeoutMs);
      while (more()) {
        const t = TOPICS[Math.floor(r() * TOPICS.length)]!;
        const n = 1 + Math.floor(r() * 3);
        const keyed = r() < 0.3;
        const values = Array.from({ length: n }, () => {
          const value = uniq(proc);
          return keyed ? { value } : { value, partition: Math.floor(r() * t.partitions) };
        });
        const records = values.map((v) => (v.partition === undefined ? { key: v.value, value: v.value } : { value: v.value, partition: v.partition }));
        await http.op(proc, { f: 'send', topic: t.name, format: 'json', values, write: values[0]!.value }, 'POST', `/v1/topics/${t.name}/records`, { value_format: 'string', key_format: 'string', records }, (rep) => ({
          acks: (rep.json.offsets as Array<{ partition: number; offset: number }>).map((a) => ({ partition: a.partition, offset: a.offset })),
        }));
      }
    };

    const binaryProducer = async (proc: string, r: () => number): Promise<void> => {
      const http = new Http(rec, endpoints, r, o.clientTimeoutMs);
      while (more()) {
        const t = TOPICS[Math.floor(r() * TOPICS.length)]!;
        const p = Math.floor(r() * t.partitions);
        const values = Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({ value: uniq(proc), partition: p }));
        const batch = encodeRecordBatch(values.map((v) => ({ value: new TextEncoder().encode(v.value) })));
        await http.op(
          proc,
          { f: 'send', topic: t.name, format: 'binary', values, write: values[0]!.value },
          'POST',
          `/v1/topics/${t.name}/partitions/${p}/records`,
          undefined,
          (rep) => ({ acks: values.map((_, i) => ({ partition: rep.json.partition as number, offset: (rep.json.base_offset as number) + i })) }),
          { binary: batch },
        );
      }
    };

    // Idempotent: one record per request to one fixed partition, so a sequence is the same
    // whether counted per request or per record, per producer or per partition. An
    // indeterminate attempt is retried with the same sequence (through any server) until a
    // definite answer; a refusal or too many attempts starts a fresh producer id.
    const idempotentProducer = async (proc: string, r: () => number, topic: (typeof TOPICS)[number], partition: number): Promise<void> => {
      const http = new Http(rec, endpoints, r, o.clientTimeoutMs);
      let producer: { id: number; epoch: number } | undefined;
      let sequence = 0;
      while (more()) {
        if (!producer) {
          const p = await http.request(0, 'POST', `${http.pick()}/v1/producers`, {});
          if (p.type !== 'ok') {
            await sleep(200);
            continue;
          }
          producer = { id: p.json.id, epoch: p.json.epoch };
          sequence = 0;
        }
        const value = uniq(proc);
        const pr = { id: producer.id, epoch: producer.epoch, sequence };
        let settled = false;
        for (let attempt = 0; attempt < 6 && !settled; attempt++) {
          if (attempt > 0) budget--;
          const { reply } = await http.op(
            proc,
            { f: 'send', topic: topic.name, format: 'json', values: [{ value, partition }], producer: pr, write: `${proc}:${value}` },
            'POST',
            `/v1/topics/${topic.name}/records`,
            { value_format: 'string', producer: pr, records: [{ value, partition }] },
            (rep) => ({ acks: (rep.json.offsets as Array<{ partition: number; offset: number }>).map((a) => ({ partition: a.partition, offset: a.offset })) }),
          );
          if (reply.type === 'ok') {
            settled = true;
            sequence++;
          } else if (reply.type === 'fail') {
            settled = true;
            producer = undefined; // refused (fenced, gap, deleted topic): start over
          } else {
            await sleep(100 + r() * 400);
          }
        }
        if (!settled) producer = undefined; // the sequence's fate is unknown: never reuse it
      }
    };

    const fetcher = async (proc: string, r: () => number): Promise<void> => {
      const http = new Http(rec, endpoints, r, o.clientTimeoutMs);
      const cursor = new Map<string, number>();
      while (more()) {
        const t = TOPICS[Math.floor(r() * TOPICS.length)]!;
        const p = Math.floor(r() * t.partitions);
        const k = `${t.name}/${p}`;
        // Mostly follow the log; sometimes re-read from the start (more reads per offset).
        const offset = r() < 0.15 ? 0 : (cursor.get(k) ?? 0);
        const { reply } = await http.op(proc, { f: 'fetch', topic: t.name, partition: p, offset }, 'GET', `/v1/topics/${t.name}/partitions/${p}/records?offset=${offset}&max_records=100&value_format=string&wait_ms=0`, undefined, (rep) => ({
          records: (rep.json.records as Array<{ offset: number; value: string }>).map((x): Obs => ({ topic: t.name, partition: p, offset: x.offset, value: x.value })),
          high_watermark: rep.json.high_watermark,
          log_start_offset: rep.json.log_start_offset,
        }));
        if (reply.type === 'ok') cursor.set(k, reply.json.next_offset);
        else if (reply.status === 416) cursor.set(k, reply.json?.log_start_offset ?? 0);
      }
    };

    const polled = (group: string, rep: Reply): Record<string, unknown> => ({
      generation: rep.json.generation,
      assignment: rep.json.assignment,
      records: (rep.json.records as Array<{ topic: string; partition: number; offset: number; value: string }>).map((x): Obs => ({ topic: x.topic, partition: x.partition, offset: x.offset, value: x.value })),
      group,
    });

    const join = async (http: Http, proc: string, group: string): Promise<string | undefined> => {
      const { reply } = await http.op(proc, { f: 'join', group }, 'POST', `/v1/groups/${group}/members`, { topics: TOPICS.map((t) => t.name), session_timeout_ms: SESSION_TIMEOUT_MS, auto_offset_reset: 'earliest' }, (rep) => ({ member: rep.json.member_id, generation: rep.json.generation }));
      return reply.type === 'ok' ? (reply.json.member_id as string) : undefined;
    };

    /** One poll (+ an explicit commit of what it returned); returns the records, or null when the member is gone. */
    const pollOnce = async (http: Http, proc: string, group: string, member: string, mode: 'auto' | 'explicit', base?: string): Promise<Obs[] | null> => {
      const q = `max_records=50&wait_ms=200&value_format=string${mode === 'explicit' ? '&auto_commit=false' : ''}`;
      const { reply } = await http.op(proc, { f: 'poll', group, member, mode }, 'GET', `/v1/groups/${group}/members/${encodeURIComponent(member)}/records?${q}`, undefined, (rep) => polled(group, rep), base ? { base } : {});
      if (reply.type !== 'ok') return reply.status === 404 ? null : [];
      const records = polled(group, reply).records as Obs[];
      if (mode === 'explicit' && records.length > 0) {
        const next = new Map<string, { topic: string; partition: number; offset: number }>();
        for (const x of records) next.set(`${x.topic}/${x.partition}`, { topic: x.topic, partition: x.partition, offset: x.offset + 1 });
        const generation = reply.json.generation as number;
        const offsets = [...next.values()];
        await http.op(proc, { f: 'commit', group, member, generation, offsets }, 'POST', `/v1/groups/${group}/offsets`, { member_id: member, generation, offsets }, undefined, base ? { base } : {});
      }
      return records;
    };

    const members = new Map<string, { group: string; member: string }>();
    const groupMember = async (proc: string, r: () => number, group: string, mode: 'auto' | 'explicit'): Promise<void> => {
      const http = new Http(rec, endpoints, r, o.clientTimeoutMs);
      let member: string | undefined;
      while (more()) {
        if (!member) {
          member = await join(http, proc, group);
          if (!member) await sleep(200);
          else members.set(proc, { group, member });
          continue;
        }
        const got = await pollOnce(http, proc, group, member, mode);
        if (got === null) {
          member = undefined; // expired or removed: join again as a new member
          members.delete(proc);
        }
      }
    };

    // --- nemesis -------------------------------------------------------------------------------
    let healing = false;
    const pausedServers = new Set<Server>();
    const pausedJobs = new Set<ChildProcess>();
    const timers = new Set<Promise<void>>();
    const later = (ms: number, fn: () => Promise<void> | void): void => {
      const p = sleep(ms)
        .then(fn)
        .catch((err) => o.log(`[nemesis] ${String(err)}`))
        .finally(() => timers.delete(p));
      timers.add(p);
    };
    const churn = TOPICS.find((t) => t.churn)!;
    let churning = false;
    const recreate = async (): Promise<void> => {
      churning = true;
      try {
        // Delete until definitely gone, then create until definitely there; each attempt is in
        // the history, so the checker knows when the old incarnation may still be live.
        for (;;) {
          const { reply } = await admin.op('nemesis', { f: 'delete-topic', topic: churn.name }, 'DELETE', `/v1/topics/${churn.name}`);
          if (reply.type === 'ok' || reply.status === 404) break;
          await sleep(300);
        }
        for (;;) {
          const { reply } = await admin.op('nemesis', { f: 'create-topic', topic: churn.name }, 'POST', '/v1/topics', { name: churn.name, partitions: churn.partitions, config: TOPIC_CONFIG });
          if (reply.type === 'ok') break;
          if (reply.status === 409) {
            // An earlier attempt created it (its answer was lost; a deleted name is free at once,
            // so a 409 is never the deletion still settling): the checker treats the create as
            // done only on an ok; retry until one is (409 means exists: delete again would lose
            // the incarnation we just made, so confirm by describing).
            const d = await admin.request(0, 'GET', `${admin.pick()}/v1/topics/${churn.name}`);
            if (d.type === 'ok') {
              rec.add({ f: 'create-topic', topic: churn.name, type: 'ok', id: rec.newId(), process: 'nemesis' } as never);
              break;
            }
          }
          await sleep(300);
        }
      } finally {
        churning = false;
      }
    };
    const nemesis = async (r: () => number): Promise<void> => {
      while (!healing && Date.now() < deadline && budget > 0) {
        await sleep(o.nemesisIntervalMs * (0.5 + r()));
        if (healing) break;
        const roll = r();
        const s = servers[Math.floor(r() * servers.length)]!;
        if (roll < 0.25) {
          if (!s.alive || s.starting || pausedServers.has(s)) continue;
          nemesisLog('kill -9', s.name);
          await s.kill9();
          later(300 + r() * 1500, async () => {
            if (healing) return;
            nemesisLog('restart', s.name);
            await s.start();
          });
        } else if (roll < 0.4) {
          if (!s.alive || s.starting || pausedServers.has(s)) continue;
          // Keep at least one server unpaused in AWS mode, so the clients make progress.
          if (servers.length > 1 && pausedServers.size >= servers.length - 1) continue;
          nemesisLog(`SIGSTOP for ${o.pauseMs} ms`, s.name);
          s.pause();
          pausedServers.add(s);
          later(o.pauseMs, () => {
            nemesisLog('SIGCONT', s.name);
            s.resume();
            pausedServers.delete(s);
          });
        } else if (roll < 0.6 && jobs) {
          const c = jobs.pick(r);
          if (!c) continue;
          if (r() < 0.5) {
            nemesisLog('kill -9', `job pid ${c.pid}`);
            c.kill('SIGKILL');
          } else {
            nemesisLog(`SIGSTOP for ${o.pauseMs} ms`, `job pid ${c.pid}`);
            jobs.pause(c);
            pausedJobs.add(c);
            later(o.pauseMs, () => {
              nemesisLog('SIGCONT', `job pid ${c.pid}`);
              jobs!.resume(c);
              pausedJobs.delete(c);
            });
          }
        } else if (roll < 0.75) {
          if (churning) continue;
          nemesisLog('delete + re-create', churn.name);
          later(0, recreate);
        } else if (storageProxy && r() < 0.4) {
          // A throttle storm: S3 and DynamoDB refuse most calls for a while. Short ones are what
          // the SDK's adaptive retries absorb; long ones (10–20 s) outlast them, so the committer's
          // fallback to write-ahead and the 429s (which promise that nothing was written: a
          // 'fail' the checker holds them to) are exercised.
          const storm = r() < 0.5 ? 2000 + r() * 3000 : 10_000 + r() * 10_000;
          nemesisLog(`throttle storm for ${Math.round(storm)} ms`, 'storage');
          storageProxy.rates = { throttle: 0.95 };
          later(storm, () => {
            if (storageProxy) storageProxy.rates = calmStorage();
          });
        } else {
          // Bursts of faults: the proxies' rates go up for a while.
          const burst = 2000 + r() * 3000;
          nemesisLog(`fault burst for ${Math.round(burst)} ms`, storageProxy ? 'http + storage' : 'http');
          for (const p of proxies) p.rates = { dropResponse: 0.15, duplicate: 0.15 };
          if (storageProxy) storageProxy.rates = { errorBefore: 0.05, dropResponse: 0.05, delay: 0.05, delayMs: [500, 4000] };
          later(burst, () => {
            for (const p of proxies) p.rates = { dropResponse: 0.03, duplicate: 0.03 };
            if (storageProxy) storageProxy.rates = calmStorage();
          });
        }
      }
    };

    const clients: Array<Promise<void>> = [];
    clients.push(jsonProducer('json-1', sub()), jsonProducer('json-2', sub()), binaryProducer('bin-1', sub()));
    clients.push(idempotentProducer('idem-1', sub(), TOPICS[0], 0), idempotentProducer('idem-2', sub(), TOPICS[0], 1), idempotentProducer('idem-3', sub(), churn, 0));
    clients.push(fetcher('fetch-1', sub()), fetcher('fetch-2', sub()));
    for (const g of GROUPS) for (let i = 0; i < g.members; i++) clients.push(groupMember(`${g.name}-m${i}`, sub(), g.name, g.mode));
    const nem = nemesis(sub());
    o.log(`[history] ${o.mode}: ${servers.length} server(s), ${clients.length} clients, ${o.ops} ops, seed ${o.seed}`);
    await Promise.all(clients);
    healing = true;
    await nem;

    // --- final phase: heal, then read everything -------------------------------------------------
    o.log(`[history] ${o.mode}: clients done at ${(rec.now() / 1000).toFixed(1)}s; healing`);
    nemesisLog('heal');
    for (const p of proxies) p.enabled = false;
    if (storageProxy) storageProxy.enabled = false;
    for (const s of servers) s.resume();
    for (const c of pausedJobs) jobs!.resume(c);
    await Promise.all([...timers]);
    while (churning) await sleep(100);
    for (const s of servers) if (!s.alive) await s.start();
    if (jobs) {
      await Promise.race([jobs.stop(), sleep(90_000)]);
      for (const which of ['flush', 'retention'] as const) {
        const res = await jobs.once(which);
        summary[`final-${which}`] = res.out.trim().split('\n').slice(-1)[0] ?? '';
        o.log(`[history] final ${which} job: exit ${res.code} ${res.out.trim().split('\n').slice(-1)[0] ?? ''}`);
        // A failed job's last line is the tail of its error: show the error whole.
        if (res.code !== 0) o.log(`[history] final ${which} job output:\n${res.out.trim().slice(-3000)}`);
      }
      summary['jobs'] = jobs.stats;
    }
    // The healed cluster may still be slow (a single-threaded emulator catching up): the final
    // phase waits longer than the clients did.
    const fin = new Http(rec, direct, sub(), 30_000);
    for (const t of TOPICS) {
      for (let p = 0; p < t.partitions; p++) {
        let last: Record<string, unknown> = {};
        let records: Obs[] = [];
        const id = rec.newId();
        rec.add({ f: 'final-read', topic: t.name, partition: p, type: 'invoke', id, process: 'final' } as never);
        for (let attempt = 0; attempt < 5; attempt++) {
          records = [];
          const d = await fin.request(0, 'GET', `${fin.pick()}/v1/topics/${t.name}`);
          if (d.type !== 'ok') {
            last = { type: d.type === 'fail' ? 'fail' : 'info', status: d.status, error: d.error };
            await sleep(1000);
            continue;
          }
          const part = (d.json.partitions as Array<{ partition: number; log_start_offset: number; high_watermark: number }>)[p]!;
          let offset = part.log_start_offset;
          let ok = true;
          while (offset < part.high_watermark) {
            const f = await fin.request(0, 'GET', `${fin.pick()}/v1/topics/${t.name}/partitions/${p}/records?offset=${offset}&max_records=1000&value_format=string`, undefined, { timeoutMs: 30_000 });
            if (f.type !== 'ok') {
              last = { type: f.type === 'fail' ? 'fail' : 'info', status: f.status, error: `at offset ${offset}: ${f.error}` };
              ok = false;
              break;
            }
            for (const x of f.json.records as Array<{ offset: number; value: string }>) if (x.offset < part.high_watermark) records.push({ topic: t.name, partition: p, offset: x.offset, value: x.value });
            if ((f.json.records as unknown[]).length === 0) break;
            offset = f.json.next_offset;
          }
          if (ok) {
            last = { type: 'ok', records, log_start_offset: part.log_start_offset, high_watermark: part.high_watermark };
            break;
          }
          await sleep(1000);
        }
        rec.add({ f: 'final-read', topic: t.name, partition: p, ...last, id, process: 'final' } as never);
      }
    }
    const finalReads = rec.ops.filter((x) => x.f === 'final-read' && x.type !== 'invoke');
    const hwm = new Map(finalReads.map((x) => [`${(x as { topic: string }).topic}/${(x as { partition: number }).partition}`, (x as { high_watermark?: number }).high_watermark]));

    // Drain each group with one fresh member (the others removed first), to the high watermarks.
    for (const g of GROUPS) {
      const id = rec.newId();
      rec.add({ f: 'final-group', group: g.name, type: 'invoke', id, process: 'final' } as never);
      const d = await fin.request(0, 'GET', `${fin.pick()}/v1/groups/${g.name}`);
      for (const m of (d.json?.members ?? []) as Array<{ member_id: string }>) await fin.op('final', { f: 'leave', group: g.name, member: m.member_id }, 'DELETE', `/v1/groups/${g.name}/members/${encodeURIComponent(m.member_id)}`);
      let member: string | undefined;
      for (let attempt = 0; attempt < 5 && !member; attempt++) member = await join(fin, 'final', g.name);
      let drained = false;
      let committed: Array<{ topic: string; partition: number; offset: number }> = [];
      // Drained: the group's committed offsets reach every high watermark of the final read.
      const isDrained = async (): Promise<boolean> => {
        const off = await fin.request(0, 'GET', `${fin.pick()}/v1/groups/${g.name}/offsets`);
        if (off.type !== 'ok') return false;
        committed = (off.json.offsets as Array<{ topic: string; partition: number; offset: number }>).map((x) => ({ topic: x.topic, partition: x.partition, offset: x.offset }));
        return [...hwm].every(([k, h]) => h === undefined || h === 0 || committed.some((c) => `${c.topic}/${c.partition}` === k && c.offset >= h));
      };
      if (member) {
        // Poll until the committed offsets reach the high watermarks; a member whose removal
        // timed out still holds partitions until its session expires, hence the patience.
        const t0 = Date.now();
        while (Date.now() - t0 < 120_000) {
          const got = await pollOnce(fin, 'final', g.name, member, 'explicit');
          if (got === null) break;
          if (got.length === 0) {
            if ((drained = await isDrained())) break;
            await sleep(500);
          }
        }
        await fin.op('final', { f: 'leave', group: g.name, member }, 'DELETE', `/v1/groups/${g.name}/members/${encodeURIComponent(member)}`);
      }
      rec.add({ f: 'final-group', group: g.name, committed, type: drained ? 'ok' : 'info', id, process: 'final', ...(drained ? {} : { error: 'group not drained to the high watermarks (its missing offsets still count as group-skip below the highest delivered one)' }) } as never);
    }
    summary['proxies'] = proxies.map((p) => p.counts);
    if (storageProxy) summary['storageProxy'] = storageProxy.counts;
    summary['durationS'] = Math.round(rec.now() / 1000);
    return { ops: rec.ops, summary };
  } finally {
    rec.close();
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}
