// The server's log writer (lib/obs/logger.ts, deferredWriter; bin/serve.ts uses it): at the
// default level every request logs an access line, and writing it in the observe middleware
// put a stdout write (a syscall; on a pipe, waking the log reader) in front of every response
// (issue 18 item 1). Info lines are now held until the turn's I/O is done and written
// together (one write for the lines of a turn); warn and error lines are never held; every line keeps its content and order.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../lib/http/app';
import { LogEngine } from '../../../lib/log/engine';
import { createLogger, deferredWriter, type LogLevel } from '../../../lib/obs/logger';
import { encodeRecordBatch } from '../../../lib/records';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

const turn = () => new Promise((r) => setImmediate(r));

describe('deferredWriter', () => {
  it('writes the info lines of one turn together, after the turn, in order', async () => {
    const out: string[] = [];
    const w = deferredWriter((t) => void out.push(t));
    w.write('a', 'info');
    w.write('b', 'debug');
    w.write('c', 'info');
    expect(out).toEqual([]);
    await turn();
    expect(out).toEqual(['a\nb\nc\n']);
    w.write('d', 'info');
    await turn();
    expect(out).toEqual(['a\nb\nc\n', 'd\n']);
  });

  it('never holds a warn or error line, and writes what it holds first', () => {
    const out: string[] = [];
    const w = deferredWriter((t) => void out.push(t));
    w.write('i1', 'info');
    w.write('w', 'warn');
    expect(out).toEqual(['i1\n', 'w\n']);
    w.write('e', 'error');
    expect(out).toEqual(['i1\n', 'w\n', 'e\n']);
  });

  it('holds at most maxBytes, and flush() writes what is held at once (process exit)', async () => {
    const out: string[] = [];
    const w = deferredWriter((t) => void out.push(t), 10);
    w.write('12345', 'info');
    expect(out).toEqual([]);
    w.write('6789', 'info'); // 6 + 5 bytes with newlines: past the bound
    expect(out).toEqual(['12345\n6789\n']);
    w.write('x', 'info');
    w.flush();
    expect(out).toEqual(['12345\n6789\n', 'x\n']);
    await turn(); // the pending turn finds nothing left to write
    expect(out).toHaveLength(2);
  });
});

describe('access log over HTTP', () => {
  let server: ServerType;
  let port: number;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-deferred-log-'));
  /** When each response finished, and when each batch of log text was written. */
  let events: Array<{ what: 'finish' | 'log'; text?: string }> = [];
  let immediate = false;
  const held = deferredWriter((text) => void events.push({ what: 'log', text }));
  const write = (line: string, level: LogLevel) => (immediate ? void events.push({ what: 'log', text: `${line}\n` }) : held.write(line, level));

  beforeAll(async () => {
    const engine = new LogEngine(new SqliteMetaStore({ path: ':memory:' }), new LocalObjectStore({ root: dir, fsync: false }));
    await engine.createTopic('t', 1);
    const app = createApp({ engine, logger: createLogger({ level: 'info', write }) });
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => res.once('finish', () => events.push({ what: 'finish' })));
    await new Promise<void>((r) => server.once('listening', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const agent = new http.Agent({ keepAlive: true });
  afterAll(() => agent.destroy());
  const body = encodeRecordBatch([{ key: null, value: Buffer.alloc(1024, 'x') }]);
  function produce(): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/v1/topics/t/partitions/0/records', agent, headers: { 'content-type': 'application/vnd.kafka.record-batch', 'content-length': String(body.length) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('a line written as it is logged goes out before its response (the old order)', async () => {
    immediate = true;
    events = [];
    expect(await produce()).toBe(200);
    await settle();
    expect(events.map((e) => e.what)).toEqual(['log', 'finish']);
    immediate = false;
  });

  it('a held line goes out after its response, whole, also under concurrent requests', async () => {
    events = [];
    expect(await produce()).toBe(200);
    await settle();
    expect(events.map((e) => e.what)).toEqual(['finish', 'log']);
    expect(JSON.parse(events[1]!.text!)).toMatchObject({ level: 'info', msg: 'request', method: 'POST', topic: 't', partition: '0', status: 200 });

    events = [];
    const statuses = await Promise.all(Array.from({ length: 16 }, () => produce()));
    await settle();
    expect(statuses.every((s) => s === 200)).toBe(true);
    const logs = events.filter((e) => e.what === 'log');
    const lines = logs.flatMap((e) => e.text!.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as { msg: string; status: number });
    expect(lines).toHaveLength(16);
    expect(lines.every((l) => l.msg === 'request' && l.status === 200)).toBe(true);
    // Each line is written after its response: at every write, at least as many responses
    // have finished as lines have been written.
    let finished = 0;
    let written = 0;
    for (const e of events) {
      if (e.what === 'finish') finished++;
      else {
        written += e.text!.split('\n').filter(Boolean).length;
        expect(written).toBeLessThanOrEqual(finished);
      }
    }
  });
});
