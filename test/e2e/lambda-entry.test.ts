// The Lambda entry points driven as Lambda drives them: functions/api.ts's `handler` (BUFFERED
// invoke mode, API Gateway) and `streamHandler` (RESPONSE_STREAM) with payload v2 events, a
// context, and for the stream the response stream the runtime hands it; against the emulator.
// The app's own behaviour is covered through app.request elsewhere (runtime-limits.test.ts);
// these are what only the real entry point shows: how the event becomes a request, how the
// response becomes a result or a stream, and what a warm instance carries between invocations.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LAMBDA_PAYLOAD_BYTES } from '../../lib/http/limits';
import { describeAws, makeDynamoStore, makeS3Store } from '../helpers/aws';
import { type BufferedResult, installAwsLambdaGlobal, lambdaAwsEnv, lambdaContext, RecordedStream, resultBytes, v2Event } from '../helpers/lambda';
import { type ServerHandle, startServer } from '../helpers/server';

interface Api {
  handler: (event: unknown, context?: unknown) => Promise<BufferedResult>;
  streamHandler: (event: unknown, stream: RecordedStream, context: unknown) => Promise<void>;
}

const JSON_CT = { 'content-type': 'application/json' };
const BATCH_TYPE = 'application/vnd.kafka.record-batch';

describeAws('Lambda API entry points (payload v2)', () => {
  let s3: Awaited<ReturnType<typeof makeS3Store>>;
  let ddb: Awaited<ReturnType<typeof makeDynamoStore>>;
  /** functions/api.ts loaded as a BUFFERED Function URL deployment. */
  let buffered: Api;
  /** … as a RESPONSE_STREAM one (its own module instance: limits are fixed at init). */
  let streamed: Api;
  /** … behind API Gateway's HTTP API with the JWT authorizer. */
  let gateway: Api;

  const load = async (env: Record<string, string>): Promise<Api> => {
    vi.resetModules();
    Object.assign(process.env, env);
    return (await import('../../functions/api')) as unknown as Api;
  };

  beforeAll(async () => {
    [s3, ddb] = await Promise.all([makeS3Store(), makeDynamoStore()]);
    Object.assign(process.env, lambdaAwsEnv({ bucket: s3.bucket, table: ddb.table }, { SAMSA_AUTH: 'none', SAMSA_FUNCTION_TIMEOUT_MS: '70000' }));
    installAwsLambdaGlobal();
    buffered = await load({ SAMSA_INVOKE_MODE: 'BUFFERED' });
    streamed = await load({ SAMSA_INVOKE_MODE: 'RESPONSE_STREAM' });
    gateway = await load({ SAMSA_INVOKE_MODE: 'BUFFERED', SAMSA_AUTH: 'jwt', SAMSA_SUPER_USERS: 'User:ops' });
    process.env.SAMSA_AUTH = 'none';
    delete process.env.SAMSA_SUPER_USERS;
    const created = await buffered.handler(v2Event('POST', '/v1/topics', { headers: JSON_CT, body: JSON.stringify({ name: 'le', partitions: 2, config: { 'max.message.bytes': String(8 * 1024 * 1024) } }) }), lambdaContext());
    expect(created.statusCode).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([s3?.cleanup(), ddb?.cleanup()]);
  });

  const stream = async (api: Api, event: unknown, context = lambdaContext()): Promise<RecordedStream> => {
    const s = new RecordedStream();
    await api.streamHandler(event, s, context);
    return s;
  };

  describe('request ids', () => {
    it("both invoke modes answer with the invocation's Lambda request id (docs/operations.md)", async () => {
      const b = await buffered.handler(v2Event('GET', '/healthz'), lambdaContext(70_000, 'lambda-req-1'));
      expect(b.headers?.['x-request-id']).toBe('lambda-req-1');
      const s = await stream(streamed, v2Event('GET', '/healthz'), lambdaContext(70_000, 'lambda-req-2'));
      expect(s.meta?.headers?.['x-request-id']).toBe('lambda-req-2');
    });
  });

  describe('metrics on a warm instance', () => {
    /** The EMF request-duration values for `route` written to stdout while `run` runs. */
    const durations = async (route: string, run: () => Promise<unknown>): Promise<number[]> => {
      const out = vi.spyOn(process.stdout, 'write');
      let written: string[];
      try {
        await run();
      } finally {
        written = out.mock.calls.map((c) => String(c[0]));
        out.mockRestore();
      }
      return written
        .flatMap((w) => w.split('\n'))
        .filter((l) => l.includes('samsa_request_duration_ms'))
        .map((l) => JSON.parse(l) as { route: string; samsa_request_duration_ms: number[] })
        .filter((m) => m.route === route)
        .flatMap((m) => m.samsa_request_duration_ms);
    };

    it("each invocation writes its own request's metrics once, before it returns, in both modes", async () => {
      for (let i = 0; i < 2; i++) {
        expect(await durations('GET /healthz', () => buffered.handler(v2Event('GET', '/healthz'), lambdaContext())), `buffered #${i}`).toHaveLength(1);
        expect(await durations('GET /healthz', () => stream(streamed, v2Event('GET', '/healthz'))), `streamed #${i}`).toHaveLength(1);
        // A response without a body (HEAD) goes out by the other path of the stream handler.
        expect(await durations('HEAD /v1/topics/:topic', () => stream(streamed, v2Event('HEAD', '/v1/topics/le'))), `streamed HEAD #${i}`).toHaveLength(1);
      }
    });
  });

  describe('buffered responses within the 6 MB result', () => {
    it('a JSON fetch of escape-heavy values is clamped so the result JSON Lambda returns stays under 6 MB', async () => {
      // 40 values of 100,000 quote characters: 4 MB decoded, 8 MB as a JSON body, and every
      // quote of that body escaped once more inside the result's "body" string.
      const value = '"'.repeat(100_000);
      for (let i = 0; i < 4; i++) {
        const body = JSON.stringify({ records: Array.from({ length: 10 }, () => ({ value, partition: 1 })), value_format: 'string' });
        const res = await buffered.handler(v2Event('POST', '/v1/topics/le/records', { headers: JSON_CT, body }), lambdaContext());
        expect(res.statusCode, res.body).toBe(200);
      }
      const res = await buffered.handler(v2Event('GET', '/v1/topics/le/partitions/1/records', { query: `offset=0&max_records=100&max_bytes=${8 * 1024 * 1024}&value_format=string` }), lambdaContext());
      expect(res.statusCode).toBe(200);
      expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
      const body = JSON.parse(res.body!) as { records: Array<{ offset: number; value: string }>; next_offset: number; clamped?: unknown };
      expect(body.records.length).toBeGreaterThan(0);
      expect(body.records.length).toBeLessThan(40);
      expect(body.records.every((r) => r.value === value)).toBe(true);
      expect(body.next_offset).toBe(body.records.length);
      expect(body.clamped).toMatchObject({ runtime: 'function-url-buffered' });
    });

    it('a single record larger than the result can carry is refused with a 413 that says so, not a result Lambda cannot return', async () => {
      // Kafka returns a first batch whole whatever the fetch size; a buffered Lambda cannot: a
      // 5.5 MB batch is 7.3 MB as base64, and every fetch at its offset would fail as a 502.
      const made = await buffered.handler(v2Event('POST', '/v1/topics', { headers: JSON_CT, body: JSON.stringify({ name: 'lbig', partitions: 1, config: { 'max.message.bytes': String(16 * 1024 * 1024) } }) }), lambdaContext());
      expect(made.statusCode, made.body).toBe(201);
      const produced = await buffered.handler(v2Event('POST', '/v1/topics/lbig/records', { headers: JSON_CT, body: JSON.stringify({ records: [{ value: 'y'.repeat(5_500_000) }], value_format: 'string' }) }), lambdaContext());
      expect(produced.statusCode, produced.body?.slice(0, 300)).toBe(200);
      for (const [format, headers] of [['binary', { accept: BATCH_TYPE }], ['json', {}]] as const) {
        const res = await buffered.handler(v2Event('GET', '/v1/topics/lbig/partitions/0/records', { query: 'offset=0', headers }), lambdaContext());
        expect(Buffer.byteLength(JSON.stringify(res)), format).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
        expect({ format, status: res.statusCode, body: JSON.parse(res.body!) as unknown }).toMatchObject({ format, status: 413, body: { error_code: 'RECORD_TOO_LARGE', offset: 0, runtime: 'function-url-buffered' } });
      }
      const join = await buffered.handler(v2Event('POST', '/v1/groups/lbig-g/members', { headers: JSON_CT, body: JSON.stringify({ topics: ['lbig'], auto_offset_reset: 'earliest' }) }), lambdaContext());
      const { member_id } = JSON.parse(join.body!) as { member_id: string };
      const poll = await buffered.handler(v2Event('GET', `/v1/groups/lbig-g/members/${member_id}/records`, { query: `max_bytes=${8 * 1024 * 1024}` }), lambdaContext());
      expect(Buffer.byteLength(JSON.stringify(poll))).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
      expect({ status: poll.statusCode, body: JSON.parse(poll.body!) as unknown }).toMatchObject({ status: 413, body: { error_code: 'RECORD_TOO_LARGE', topic: 'lbig', partition: 0, offset: 0 } });
      // Streamed, the same batch leaves whole.
      const s = await stream(streamed, v2Event('GET', '/v1/topics/lbig/partitions/0/records', { query: 'offset=0', headers: { accept: BATCH_TYPE } }));
      expect(s.meta?.statusCode).toBe(200);
      expect(s.body.length).toBeGreaterThan(5_500_000);
    });

    it('so is a group poll of the same records: what is left out comes with the next poll, from next_offset', async () => {
      const join = await buffered.handler(v2Event('POST', '/v1/groups/le-g/members', { headers: JSON_CT, body: JSON.stringify({ topics: ['le'], auto_offset_reset: 'earliest' }) }), lambdaContext());
      expect(join.statusCode, join.body).toBe(200);
      const { member_id } = JSON.parse(join.body!) as { member_id: string };
      const poll = (query: string) => buffered.handler(v2Event('GET', `/v1/groups/le-g/members/${member_id}/records`, { query: `max_records=100&max_bytes=${8 * 1024 * 1024}&value_format=string${query}` }), lambdaContext());
      type Poll = { records: Array<{ partition: number; offset: number }>; positions: Array<{ partition: number; next_offset: number }> };
      const seen: number[] = [];
      let from = '';
      for (let i = 0; i < 4 && seen.length < 40; i++) {
        const res = await poll(from);
        expect(res.statusCode, res.body?.slice(0, 300)).toBe(200);
        expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
        const body = JSON.parse(res.body!) as Poll;
        seen.push(...body.records.filter((r) => r.partition === 1).map((r) => r.offset));
        const p1 = body.positions.find((p) => p.partition === 1)!;
        from = `&from=le:1:${p1.next_offset}`;
      }
      expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
    });
  });

  describe("long polls within the invocation's remaining time", () => {
    // The construct's 70 s timeout covers a 60 s wait; a deployment with a shorter timeout, or
    // an invocation with less time left, must still answer before Lambda cuts it off (the
    // Function URL would send its own 502, and the hand-offs and metrics would be lost).
    it('a fetch with wait_ms beyond the time left returns empty before the invocation ends, in both modes', async () => {
      const query = 'offset=0&wait_ms=15000';
      let t0 = Date.now();
      const b = await buffered.handler(v2Event('GET', '/v1/topics/le/partitions/0/records', { query }), lambdaContext(7000));
      expect({ status: b.statusCode, records: (JSON.parse(b.body!) as { records: unknown[] }).records }).toEqual({ status: 200, records: [] });
      expect(Date.now() - t0).toBeLessThan(6000);
      t0 = Date.now();
      const s = await stream(streamed, v2Event('GET', '/v1/topics/le/partitions/0/records', { query }), lambdaContext(7000));
      expect(s.meta?.statusCode).toBe(200);
      expect(Date.now() - t0).toBeLessThan(6000);
    }, 40_000);

    it('so does a group poll', async () => {
      const join = await buffered.handler(v2Event('POST', '/v1/groups/le-wait/members', { headers: JSON_CT, body: JSON.stringify({ topics: ['le'], auto_offset_reset: 'latest' }) }), lambdaContext());
      const { member_id } = JSON.parse(join.body!) as { member_id: string };
      const t0 = Date.now();
      const res = await buffered.handler(v2Event('GET', `/v1/groups/le-wait/members/${member_id}/records`, { query: 'wait_ms=15000' }), lambdaContext(7000));
      expect(res.statusCode, res.body).toBe(200);
      expect(Date.now() - t0).toBeLessThan(6000);
    }, 40_000);
  });

  describe('streamed: a client that goes away mid-body', () => {
    /** A response stream whose client disconnects after the first chunk of body. */
    class Disconnecting extends RecordedStream {
      override _write(chunk: Buffer, enc: BufferEncoding, cb: (err?: Error | null) => void): void {
        if (this.chunks.length >= 1) return cb(new Error('client went away'));
        super._write(chunk, enc, cb);
      }
    }

    it("still gets the invocation's metrics written before it returns (Lambda may freeze it for good)", async () => {
      const out = vi.spyOn(process.stdout, 'write');
      const s = new Disconnecting();
      let written: string[];
      try {
        // Partition 1 holds ~4 MB: the binary fetch leaves in several chunks.
        await streamed.streamHandler(v2Event('GET', '/v1/topics/le/partitions/1/records', { query: `offset=0&max_bytes=${8 * 1024 * 1024}`, headers: { accept: BATCH_TYPE } }), s, lambdaContext());
      } finally {
        written = out.mock.calls.map((c) => String(c[0]));
        out.mockRestore();
      }
      expect(s.destroyedWith?.message).toBe('client went away');
      const emf = written.filter((l) => l.includes('samsa_request_duration_ms'));
      expect(emf.join('')).toContain('GET /v1/topics/:topic/partitions/:partition/records');
    });

    /** A response stream the runtime closes (the client went away) once the first chunk is out. */
    class ClosedAfterFirstChunk extends RecordedStream {
      override _write(chunk: Buffer, enc: BufferEncoding, cb: (err?: Error | null) => void): void {
        super._write(chunk, enc, cb);
        if (this.chunks.length === 1) setImmediate(() => this.destroy());
      }
    }
    /** Whether `run` settles within `ms`: far less than what a stream left running would take. */
    const settlesWithin = (run: Promise<unknown>, ms: number) =>
      Promise.race([run.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);

    // An idle tail writes nothing for keepalive_ms (15 s by default): the invocation must not
    // learn of the closed stream only from its next keep-alive, billed and holding a
    // concurrency slot all that while (and its reads of the log with it).
    it('an idle live tail ends with the invocation once the response stream closes, not at its next keep-alive', async () => {
      const made = await buffered.handler(v2Event('POST', '/v1/topics', { headers: JSON_CT, body: JSON.stringify({ name: 'le-tail', partitions: 1 }) }), lambdaContext());
      expect(made.statusCode, made.body).toBe(201);
      const s = new ClosedAfterFirstChunk();
      const run = streamed.streamHandler(v2Event('GET', '/v1/topics/le-tail/partitions/0/records', { query: 'follow=true&offset=0', headers: { accept: 'text/event-stream' } }), s, lambdaContext());
      const ended = await settlesWithin(run, 5000);
      await run;
      expect(s.body.toString()).toContain(': waiting');
      expect(ended, 'the invocation returned within 5 s of the close (a keep-alive is 15 s away)').toBe(true);
    }, 30_000);

    it('so does a long poll whose response stream closes while it waits', async () => {
      const s = new RecordedStream();
      setTimeout(() => s.destroy(), 300);
      const run = streamed.streamHandler(v2Event('GET', '/v1/topics/le-tail/partitions/0/records', { query: 'offset=0&wait_ms=20000' }), s, lambdaContext());
      const ended = await settlesWithin(run, 5000);
      await run;
      expect(ended, 'the invocation returned within 5 s of the close (the wait is 20 s)').toBe(true);
    }, 40_000);

    // The runtime may hand the handler a response stream that is already closed (the client left
    // while the invocation was queued): there is no 'close' event left to wait for.
    it('so does a long poll whose response stream closed before the handler started', async () => {
      const made = await buffered.handler(v2Event('POST', '/v1/topics', { headers: JSON_CT, body: JSON.stringify({ name: 'le-closed', partitions: 1 }) }), lambdaContext());
      expect(made.statusCode, made.body).toBe(201);
      const s = new RecordedStream();
      s.destroy();
      await new Promise((r) => setImmediate(r));
      expect(s.closed).toBe(true);
      const run = streamed.streamHandler(v2Event('GET', '/v1/topics/le-closed/partitions/0/records', { query: 'offset=0&wait_ms=20000' }), s, lambdaContext());
      const ended = await settlesWithin(run, 5000);
      await run;
      expect(ended, 'the invocation returned within 5 s (the wait is 20 s)').toBe(true);
    }, 40_000);

    // The 200 of a produce is lost when its response stream closes, but the write is done (or,
    // had it failed, not done at all): a closed stream aborts waits, never a commit. The
    // idempotent retry that follows finds it and writes nothing twice.
    it('a produce whose response stream closed before the handler started is committed whole, and its idempotent retry writes nothing twice', async () => {
      const made = await buffered.handler(v2Event('POST', '/v1/topics', { headers: JSON_CT, body: JSON.stringify({ name: 'le-lost', partitions: 1 }) }), lambdaContext());
      expect(made.statusCode, made.body).toBe(201);
      const pid = JSON.parse((await buffered.handler(v2Event('POST', '/v1/producers', { headers: JSON_CT, body: '{}' }), lambdaContext())).body!) as { id: number; epoch: number };
      const body = JSON.stringify({ records: Array.from({ length: 50 }, (_, i) => ({ partition: 0, value: `v${i}` })), value_format: 'string', producer: { id: pid.id, epoch: pid.epoch, sequence: 0 } });
      const s = new RecordedStream();
      s.destroy();
      await new Promise((r) => setImmediate(r));
      await streamed.streamHandler(v2Event('POST', '/v1/topics/le-lost/records', { headers: JSON_CT, body }), s, lambdaContext());
      const retry = await buffered.handler(v2Event('POST', '/v1/topics/le-lost/records', { headers: JSON_CT, body }), lambdaContext());
      expect(retry.statusCode, retry.body).toBe(200);
      const read = await buffered.handler(v2Event('GET', '/v1/topics/le-lost/partitions/0/records', { query: 'offset=0&max_records=500&value_format=string' }), lambdaContext());
      const got = JSON.parse(read.body!) as { records: Array<{ offset: number; value: string }>; high_watermark: number };
      expect(got.records.map((r) => r.value)).toEqual(Array.from({ length: 50 }, (_, i) => `v${i}`));
      expect(got.high_watermark).toBe(50);
    }, 40_000);
  });

  describe('API Gateway HTTP API: rawPath arrives percent-decoded', () => {
    // API Gateway's HTTP API hands the function the path decoded (a Function URL keeps it as
    // sent): /v1/topics/gw%23x arrives as rawPath "/v1/topics/gw#x". Pasted into a URL as it
    // is, the "#x" becomes a fragment and the request names topic gw.
    const asOps = { apiGateway: true, authorizer: { jwt: { claims: { sub: 'ops' }, scopes: null } } };
    const topic = async (name: string) => (await gateway.handler(v2Event('GET', `/v1/topics/${name}`, asOps), lambdaContext())).statusCode;

    it('a DELETE of a topic whose name holds an encoded # or ? is refused, and deletes nothing', async () => {
      const made = await gateway.handler(v2Event('POST', '/v1/topics', { ...asOps, headers: JSON_CT, body: JSON.stringify({ name: 'gw', partitions: 1 }) }), lambdaContext());
      expect(made.statusCode, made.body).toBe(201);
      for (const rawPath of ['/v1/topics/gw#x', '/v1/topics/gw?x']) {
        const res = await gateway.handler(v2Event('DELETE', rawPath, asOps), lambdaContext());
        expect({ rawPath, status: res.statusCode, code: (JSON.parse(res.body ?? '{}') as { error_code?: string }).error_code }).toEqual({ rawPath, status: 400, code: 'INVALID_TOPIC_EXCEPTION' });
        expect(await topic('gw')).toBe(200);
      }
    });

    it('a decoded %, space or non-ASCII character in a name is answered as the Node server answers the encoded name', async () => {
      for (const rawPath of ['/v1/topics/gw%41', '/v1/topics/g w', '/v1/topics/gé']) {
        const res = await gateway.handler(v2Event('GET', rawPath, asOps), lambdaContext());
        expect({ rawPath, status: res.statusCode, code: (JSON.parse(res.body ?? '{}') as { error_code?: string }).error_code }).toEqual({ rawPath, status: 400, code: 'INVALID_TOPIC_EXCEPTION' });
      }
    });
  });

  describe('the flush function and hand-offs it does not expect', () => {
    type Flush = (event: unknown, context?: unknown) => Promise<Record<string, unknown>>;
    let flush: Flush;
    beforeAll(async () => {
      vi.resetModules();
      ({ handler: flush } = (await import('../../functions/flush')) as unknown as { handler: Flush });
    });
    const ctx = () => lambdaContext(5 * 60_000);
    const topicId = async (name: string) => (JSON.parse((await buffered.handler(v2Event('GET', `/v1/topics/${name}`), lambdaContext())).body!) as { topic_id: string }).topic_id;

    it('a hand-off naming a partition the topic does not have (negative) is skipped, not reported as a complete flush', async () => {
      const id = await topicId('le');
      for (const partition of [-1, 2]) {
        const report = await flush({ samsa: 'flush', topic: 'le', topic_id: id, partition }, ctx());
        expect(report, `partition ${partition}`).toEqual({ job: 'flush', skipped: `le/${partition} no longer exists` });
      }
    });

    it('a hand-off naming a topic no topic can be called is skipped, not failed (a failed hand-off is retried and sets off the Errors alarm)', async () => {
      expect(await flush({ samsa: 'flush', topic: 'bad/name', topic_id: 'x', partition: 0 }, ctx())).toEqual({ job: 'flush', skipped: 'bad/name/0 no longer exists' });
    });

    it("a hand-off for a deleted topic's partition leaves the re-created topic of that name alone", async () => {
      const create = (name: string) => buffered.handler(v2Event('POST', '/v1/topics', { headers: JSON_CT, body: JSON.stringify({ name, partitions: 1 }) }), lambdaContext());
      const produce = (value: string) => buffered.handler(v2Event('POST', '/v1/topics/le-re/records', { headers: JSON_CT, body: JSON.stringify({ records: [{ value }] }) }), lambdaContext());
      expect((await create('le-re')).statusCode).toBe(201);
      const old = await topicId('le-re');
      expect((await produce('old')).statusCode).toBe(200);
      expect((await buffered.handler(v2Event('DELETE', '/v1/topics/le-re'), lambdaContext())).statusCode).toBe(204);
      // Marked for deletion, its data not yet removed: nothing is flushed into what retention is removing.
      expect(await flush({ samsa: 'flush', topic: 'le-re', topic_id: old, partition: 0 }, ctx())).toEqual({ job: 'flush', skipped: 'le-re/0 no longer exists' });
      // Re-creation waits until a retention pass (after the deletion's 5 s grace) has removed
      // the deleted incarnation's data.
      vi.resetModules();
      const { handler: retention } = (await import('../../functions/retention')) as unknown as { handler: Flush };
      let again = await create('le-re');
      for (let i = 0; i < 20 && again.statusCode === 409; i++) {
        await new Promise((r) => setTimeout(r, 500));
        await retention({ 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} }, ctx());
        again = await create('le-re');
      }
      expect(again.statusCode, again.body).toBe(201);
      expect((await produce('new')).statusCode).toBe(200);
      expect(await flush({ samsa: 'flush', topic: 'le-re', topic_id: old, partition: 0 }, ctx())).toEqual({ job: 'flush', skipped: 'le-re/0 no longer exists' });
      const read = await buffered.handler(v2Event('GET', '/v1/topics/le-re/partitions/0/records', { query: 'offset=0' }), lambdaContext());
      expect((JSON.parse(read.body!) as { records: Array<{ value: unknown }> }).records.map((r) => r.value)).toEqual(['new']);
    });
  });

  describe('the same request through the Lambda handlers and the Node server', () => {
    let server: ServerHandle;
    beforeAll(async () => {
      const env = Object.fromEntries(['SAMSA_STORAGE', 'SAMSA_BUCKET', 'SAMSA_TABLE', 'AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].map((k) => [k, process.env[k]!]));
      server = await startServer({ env: { ...env, SAMSA_AUTH: 'none' } });
      // Its own topic: 30 records of 20 kB (~600 kB) on partition 0.
      expect((await buffered.handler(v2Event('POST', '/v1/topics', { headers: JSON_CT, body: JSON.stringify({ name: 'lp', partitions: 2 }) }), lambdaContext())).statusCode).toBe(201);
      const records = Array.from({ length: 30 }, (_, i) => ({ partition: 0, value: { i, pad: 'p'.repeat(20_000) } }));
      expect((await buffered.handler(v2Event('POST', '/v1/topics/lp/records', { headers: JSON_CT, body: JSON.stringify({ records }) }), lambdaContext())).statusCode).toBe(200);
    }, 120_000);
    afterAll(async () => {
      await server?.stop();
    });

    interface Answer {
      status: number;
      type: string | undefined;
      body: Buffer;
      headers: Record<string, string>;
    }
    /** Headers that differ by design: who answered, and the request's id. */
    const comparable = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).filter(([k]) => !['x-request-id', 'x-samsa-runtime', 'date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(k)));
    /** `base64`: the event carries the (string) body base64-encoded, as a Function URL may. */
    type Req = { method: string; path: string; query?: string; headers?: Record<string, string>; body?: string | Uint8Array; base64?: boolean };
    const viaNode = async (r: Req): Promise<Answer> => {
      const res = await fetch(`${server.url}${r.path}${r.query ? `?${r.query}` : ''}`, { method: r.method, headers: r.headers ?? {}, ...(r.body !== undefined ? { body: r.body } : {}) });
      return { status: res.status, type: res.headers.get('content-type') ?? undefined, body: Buffer.from(await res.arrayBuffer()), headers: comparable(Object.fromEntries(res.headers)) };
    };
    const event = (r: Req) => v2Event(r.method, r.path, { query: r.query ?? '', headers: r.headers ?? {}, ...(r.body !== undefined ? { body: r.body } : {}), ...(r.base64 ? { base64: true } : {}) });
    const viaBuffered = async (r: Req): Promise<Answer> => {
      const res = await buffered.handler(event(r), lambdaContext());
      return { status: res.statusCode, type: res.headers?.['content-type'], body: resultBytes(res), headers: comparable(res.headers ?? {}) };
    };
    const viaStreamed = async (r: Req): Promise<Answer> => {
      const s = await stream(streamed, event(r));
      expect(s.ended, `${r.method} ${r.path}: the stream ends`).toBe(true);
      // Without a prelude (HttpResponseStream.from never called) a Function URL sends 200 and
      // application/octet-stream around whatever was written.
      return { status: s.meta?.statusCode ?? 200, type: s.meta ? s.meta.headers?.['content-type'] : 'application/octet-stream', body: s.body, headers: comparable(s.meta?.headers ?? {}) };
    };

    const requests: Array<[string, Req]> = [
      ['JSON fetch', { method: 'GET', path: '/v1/topics/lp/partitions/0/records', query: 'offset=3&max_records=2&value_format=string' }],
      ['binary fetch', { method: 'GET', path: '/v1/topics/lp/partitions/0/records', query: `offset=0&max_bytes=${1024 * 1024}`, headers: { accept: BATCH_TYPE } }],
      ['percent-encoded query', { method: 'GET', path: '/v1/topics/lp/partitions/0/records', query: 'offset=%33&max_records=%31&value_format=string' }],
      ['repeated query parameter', { method: 'GET', path: '/v1/topics/lp/partitions/0/records', query: 'offset=0&offset=1' }],
      ['malformed percent-encoding in the query', { method: 'GET', path: '/v1/topics/lp/partitions/0/records', query: 'offset=%zz&max_records=%E0%A4%A' }],
      ['malformed percent-encoding in the path', { method: 'GET', path: '/v1/topics/lp%zz/partitions/0/offsets', query: 'timestamp=latest' }],
      ['offsets', { method: 'GET', path: '/v1/topics/lp/partitions/0/offsets', query: 'timestamp=earliest' }],
      ['unknown topic', { method: 'GET', path: '/v1/topics/nope' }],
      ['illegal topic name, encoded', { method: 'GET', path: '/v1/topics/a%2Fb' }],
      ['unknown partition', { method: 'GET', path: '/v1/topics/lp/partitions/7/records', query: 'offset=0' }],
      ['offset out of range', { method: 'GET', path: '/v1/topics/lp/partitions/0/records', query: 'offset=999999' }],
      ['bad query value', { method: 'GET', path: '/v1/topics/lp/partitions/0/records', query: 'offset=abc' }],
      ['invalid JSON body', { method: 'POST', path: '/v1/topics/lp/records', headers: JSON_CT, body: '{"records": [' }],
      ['empty body with a Content-Type', { method: 'POST', path: '/v1/topics/lp/records', headers: JSON_CT, body: '' }],
      ['wrong media type', { method: 'POST', path: '/v1/topics/lp/records', headers: { 'content-type': 'text/plain' }, body: 'hello' }],
      ['header names in mixed case', { method: 'POST', path: '/v1/topics/lp/records', headers: { 'Content-Type': 'text/plain', 'X-Request-Id': 'bad id with spaces' }, body: 'hello' }],
      ['comma-joined Content-Type', { method: 'POST', path: '/v1/topics/lp/records', headers: { 'content-type': 'application/json, application/json' }, body: '{"records":[{"value":1}]}' }],
      ['JSON body sent base64 (isBase64Encoded)', { method: 'POST', path: '/v1/topics/lp/records', headers: JSON_CT, body: '{"records": []}', base64: true }],
      ['empty record batch body', { method: 'POST', path: '/v1/topics/lp/partitions/0/records', headers: { 'content-type': BATCH_TYPE }, body: new Uint8Array(0) }],
      ['garbage record batch', { method: 'POST', path: '/v1/topics/lp/partitions/0/records', headers: { 'content-type': BATCH_TYPE }, body: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]) }],
      ['no route', { method: 'GET', path: '/v2/nothing' }],
      ['OPTIONS', { method: 'OPTIONS', path: '/v1/topics/lp' }],
      ['HEAD', { method: 'HEAD', path: '/v1/topics/lp' }],
    ];

    it.each(requests)('%s: same status, headers and body bytes', async (_name, req) => {
      const node = await viaNode(req);
      const [b, st] = [await viaBuffered(req), await viaStreamed(req)];
      if (node.status < 400) expect(node.status).toBeLessThan(300);
      for (const [mode, got] of [['buffered', b], ['streamed', st]] as const) {
        expect({ mode, status: got.status, type: got.type, headers: got.headers }).toEqual({ mode, status: node.status, type: node.type, headers: node.headers });
        expect(got.body.equals(node.body), `${mode} body: ${got.body.toString('utf8', 0, 200)} vs ${node.body.toString('utf8', 0, 200)}`).toBe(true);
      }
      if (req.headers?.accept === BATCH_TYPE) expect(node.body.length).toBeGreaterThan(500_000);
    });

    it('a JSON body over every limit is 413 RECORD_TOO_LARGE everywhere, each naming its own limit and runtime', async () => {
      const req = { method: 'POST', path: '/v1/topics/lp/records', headers: JSON_CT, body: 'x'.repeat(7 * 1024 * 1024) };
      const answers = { node: await viaNode(req), buffered: await viaBuffered(req), streamed: await viaStreamed(req) };
      for (const [mode, a] of Object.entries(answers)) {
        const body = JSON.parse(a.body.toString()) as { error_code: string; runtime: string; max_json_request_bytes: number };
        expect({ mode, status: a.status, code: body.error_code, runtime: body.runtime }).toEqual({ mode, status: 413, code: 'RECORD_TOO_LARGE', runtime: mode === 'node' ? 'node' : `function-url-${mode === 'buffered' ? 'buffered' : 'streaming'}` });
        expect(body.max_json_request_bytes).toBeLessThan(7 * 1024 * 1024);
      }
      // The warm instance carries nothing of it into the next request.
      const ok = await viaBuffered({ method: 'POST', path: '/v1/topics/lp/records', headers: JSON_CT, body: JSON.stringify({ records: [{ partition: 1, value: 'after' }] }) });
      expect(ok.status).toBe(200);
    });

    it('a GET or HEAD that carries a body is answered as without it (the Node server ignores it too)', async () => {
      for (const method of ['GET', 'HEAD']) {
        const plain = { method, path: '/v1/topics/lp/partitions/0/offsets', query: 'timestamp=latest' };
        const node = await viaNode(plain);
        const withBody = { ...plain, headers: JSON_CT, body: '{"offset": 0}' };
        for (const [mode, got] of [['buffered', await viaBuffered(withBody)], ['streamed', await viaStreamed(withBody)]] as const) {
          expect({ mode, method, status: got.status, type: got.type, body: got.body.toString() }).toEqual({ mode, method, status: node.status, type: node.type, body: node.body.toString() });
        }
      }
    });
  });

  describe('an IAM deployment on one warm instance', () => {
    let iam: Api;
    const ADMIN = { iam: { userArn: 'arn:aws:sts::123456789012:assumed-role/Admin/session-1', accountId: '123456789012', accessKey: 'AKIAEXAMPLE', callerId: 'AROAEXAMPLE:session-1', userId: 'AROAEXAMPLE:session-1' } };
    const BOB = { iam: { userArn: 'arn:aws:iam::123456789012:user/bob', accountId: '123456789012', accessKey: 'AKIABOB', callerId: 'AIDABOB', userId: 'AIDABOB' } };
    beforeAll(async () => {
      iam = await load({ SAMSA_INVOKE_MODE: 'RESPONSE_STREAM', SAMSA_AUTH: 'iam', SAMSA_SUPER_USERS: 'User:arn:aws:iam::123456789012:role/Admin' });
      process.env.SAMSA_AUTH = 'none';
      delete process.env.SAMSA_SUPER_USERS;
    });
    const code = (r: BufferedResult) => (JSON.parse(r.body ?? '{}') as { error_code?: string }).error_code;

    it("one caller's identity never carries over to the next invocation", async () => {
      const made = await iam.handler(v2Event('POST', '/v1/topics', { authorizer: ADMIN, headers: JSON_CT, body: JSON.stringify({ name: 'li', partitions: 1 }) }), lambdaContext());
      expect(made.statusCode, made.body).toBe(201);
      const unsigned = await iam.handler(v2Event('GET', '/v1/topics/li'), lambdaContext());
      expect({ status: unsigned.statusCode, code: code(unsigned) }).toEqual({ status: 401, code: 'AUTHENTICATION_FAILED' });
      const bob = await iam.handler(v2Event('GET', '/v1/topics/li', { authorizer: BOB }), lambdaContext());
      expect({ status: bob.statusCode, code: code(bob) }).toEqual({ status: 403, code: 'TOPIC_AUTHORIZATION_FAILED' });
      const s = await stream(iam, v2Event('GET', '/v1/topics/li'));
      expect(s.meta?.statusCode).toBe(401);
    });

    it('a quota throttle is a 429 with Retry-After in both invoke modes', async () => {
      const put = await iam.handler(v2Event('PUT', '/v1/quotas', { authorizer: ADMIN, headers: JSON_CT, body: JSON.stringify({ principal: 'User:arn:aws:iam::123456789012:user/bob', request_rate: 1 }) }), lambdaContext());
      expect(put.statusCode, put.body).toBe(200);
      // Quotas are charged once the ACLs let a request through.
      const acl = await iam.handler(v2Event('POST', '/v1/acls', { authorizer: ADMIN, headers: JSON_CT, body: JSON.stringify({ principal: 'User:arn:aws:iam::123456789012:user/bob', resource_type: 'topic', resource_name: 'li', operation: 'describe' }) }), lambdaContext());
      expect(acl.statusCode, acl.body).toBeLessThan(300);
      let buffered429: BufferedResult | undefined;
      for (let i = 0; i < 20 && !buffered429; i++) {
        const r = await iam.handler(v2Event('GET', '/v1/topics/li', { authorizer: BOB }), lambdaContext());
        if (r.statusCode === 429) buffered429 = r;
      }
      expect(buffered429, 'bob is throttled').toBeDefined();
      expect({ code: code(buffered429!), type: buffered429!.headers?.['content-type'], retry: Number(buffered429!.headers?.['retry-after']) }).toEqual({ code: 'THROTTLING_QUOTA_EXCEEDED', type: 'application/json', retry: expect.any(Number) });
      expect(Number(buffered429!.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
      const s = await stream(iam, v2Event('GET', '/v1/topics/li', { authorizer: BOB }));
      expect({ status: s.meta?.statusCode, retry: Number(s.meta?.headers?.['retry-after']) >= 1, code: (JSON.parse(s.body.toString()) as { error_code: string }).error_code }).toEqual({ status: 429, retry: true, code: 'THROTTLING_QUOTA_EXCEEDED' });
    });
  });
});
