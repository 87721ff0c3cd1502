// Issue 11 item 6, with real processes on the emulator: a long-lived AWS-mode server that
// flushed and went quiet (its job loop runs hourly), or was killed with kill -9, must not keep
// one-pass `bin/job.ts flush|retention` processes from making progress for more than two
// lease durations. Every job is a fresh process: it never watched the lease before.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { awsEndpoint, describeAws, uniqueName } from '../helpers/aws';
import { REPO_ROOT, startServer, type ServerHandle } from '../helpers/server';

const LEASE_MS = 3000;

function run(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
    let out = '';
    let stdout = '';
    child.stdout.on('data', (d) => {
      out += d;
      stdout += d;
    });
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out, stdout }));
  });
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

describeAws('AWS mode: one-pass jobs against a silent lease holder', () => {
  let env: Record<string, string>;
  const servers: ServerHandle[] = [];
  const TOPIC = 'quiet';

  beforeAll(async () => {
    env = {
      SAMSA_STORAGE: 'aws',
      SAMSA_BUCKET: uniqueName('bkt'),
      SAMSA_TABLE: uniqueName('tbl'),
      AWS_ENDPOINT_URL: awsEndpoint()!,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SAMSA_LEASE_MS: String(LEASE_MS),
    };
    const r = await run('bin/setup-aws.ts', [], env);
    expect(r.code, r.out).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => (s.exited ? undefined : s.stop())));
  });

  const produce = async (base: string, from: number, n: number): Promise<void> => {
    const records = Array.from({ length: n }, (_, i) => ({ value: `v${from + i}-${'x'.repeat(150)}`, partition: 0 }));
    const r = await call(base, 'POST', `/v1/topics/${TOPIC}/records`, { records });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  };
  const epoch = async (base: string): Promise<number> => (await call(base, 'GET', `/v1/topics/${TOPIC}`)).json.partitions[0].leader_epoch;
  const waitForEpoch = async (base: string, above: number): Promise<number> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const e = await epoch(base);
      if (e > above) return e;
      if (Date.now() > deadline) throw new Error(`leader epoch stayed at ${e}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  /**
   * Runs one-pass jobs back to back until one reports `worked`. The requirement: any pass that
   * starts two lease durations after the holder went silent makes progress. Passes that start
   * earlier may skip. Returns the passes' reports.
   */
  const jobsUntil = async (job: 'flush' | 'retention', silentSince: number, worked: (r: any) => boolean): Promise<any[]> => {
    const reports: any[] = [];
    for (let i = 0; i < 15; i++) {
      const started = Date.now();
      const r = await run('bin/job.ts', [job], env);
      expect(r.code, r.out).toBe(0);
      const report = JSON.parse(r.stdout.trim().split('\n').pop()!);
      reports.push({ ...report, startedAfterMs: started - silentSince });
      if (worked(report)) return reports;
      expect(started - silentSince, `a ${job} pass that started ${started - silentSince} ms after the holder went silent did nothing: ${JSON.stringify(reports)}`).toBeLessThan(2 * LEASE_MS);
    }
    throw new Error(`no ${job} pass ever worked: ${JSON.stringify(reports)}`);
  };

  it('job:flush and job:retention take over from a quiet server and from a kill -9ed one within two lease durations', async () => {
    // A: flushes right after each commit (so it holds the lease), jobs hourly. B: only serves.
    const a = await startServer({ env: { ...env, SAMSA_JOB_INTERVAL_MS: '3600000', SAMSA_FLUSH_DELAY_MS: '50' } });
    const b = await startServer({ env: { ...env, SAMSA_JOB_INTERVAL_MS: '0' } });
    servers.push(a, b);
    const created = await call(b.url, 'POST', '/v1/topics', { name: TOPIC, partitions: 1, config: { 'segment.bytes': 1024, 'retention.bytes': 2048 } });
    expect(created.status, JSON.stringify(created.json)).toBe(201);

    await produce(a.url, 0, 20);
    const e1 = await waitForEpoch(b.url, 0); // A flushed: it holds the lease and will not renew it
    await new Promise((r) => setTimeout(r, 300)); // let A's flush finish
    await produce(b.url, 20, 20);
    const quietSince = Date.now();
    const flushes = await jobsUntil('flush', quietSince, (r) => r.steps > 0 && r.skipped === 0);
    expect(await epoch(b.url)).toBeGreaterThan(e1);
    expect(flushes.length).toBeGreaterThan(0);

    // A flushes again (the job released the lease on exit, so it takes it at once), then dies
    // holding it.
    await produce(a.url, 40, 20);
    const e2 = await waitForEpoch(b.url, (await epoch(b.url)));
    await new Promise((r) => setTimeout(r, 300));
    await a.kill('SIGKILL');
    const deadSince = Date.now();
    const retained = await jobsUntil('retention', deadSince, (r) => r.deletedSegments > 0);
    expect(retained.at(-1).skippedPartitions).toBe(0);
    console.log(`[lease-jobs] flush passes: ${JSON.stringify(flushes.map((f) => [f.startedAfterMs, f.skipped, f.steps]))}; retention passes: ${JSON.stringify(retained.map((f) => [f.startedAfterMs, f.skippedPartitions, f.deletedSegments]))}`);
    expect(await epoch(b.url)).toBeGreaterThan(e2);

    // Everything from the log start on reads back, contiguous.
    const d = (await call(b.url, 'GET', `/v1/topics/${TOPIC}`)).json.partitions[0];
    expect(d.high_watermark).toBe(60);
    expect(d.log_start_offset).toBeGreaterThan(0);
    const r = await call(b.url, 'GET', `/v1/topics/${TOPIC}/partitions/0/records?offset=${d.log_start_offset}&max_records=1000&value_format=string`);
    expect(r.status).toBe(200);
    expect(r.json.records.map((x: any) => x.offset)).toEqual(Array.from({ length: 60 - d.log_start_offset }, (_, i) => d.log_start_offset + i));
    expect(r.json.records.map((x: any) => (JSON.parse(x.value) as string).split('-')[0])).toEqual(Array.from({ length: 60 - d.log_start_offset }, (_, i) => `v${d.log_start_offset + i}`));
  }, 180_000);
});
