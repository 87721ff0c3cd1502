// Lag in time (issue 17): a group's offsets say how old its oldest unconsumed record is and
// whether retention will delete records before the group gets to them — against the real
// server, with a short retention.ms and the server's own retention loop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSamsa } from '../helpers/cli';
import { type ServerHandle, startServer } from '../helpers/server';

let server: ServerHandle;
const RETENTION_MS = 6000;

beforeAll(async () => {
  server = await startServer({ env: { SAMSA_JOB_INTERVAL_MS: '500' } });
});
afterAll(async () => {
  await server?.stop();
});

async function call(method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${p}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
const row = async (group: string) => (await call('GET', `/v1/groups/${group}/offsets`)).json.offsets[0];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('lag in time and expiry risk', () => {
  it('a caught-up group has none; a stalled one ages, is flagged before retention catches it, and stays flagged after', async () => {
    expect((await call('POST', '/v1/topics', { name: 'aging', partitions: 1, config: { 'retention.ms': RETENTION_MS, 'segment.ms': 500 } })).status).toBe(201);
    const produced = Date.now();
    expect((await call('POST', '/v1/topics/aging/records', { records: [1, 2, 3].map((v) => ({ value: v, partition: 0 })) })).status).toBe(200);
    for (const [group, offset] of [['fast', 3], ['slow', 1]] as const) {
      expect((await call('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic: 'aging', partition: 0, offset }] })).status).toBe(200);
    }

    const fast = await row('fast');
    expect(fast).toMatchObject({ offset: 3, lag: 0, lag_ms: 0, expiry_risk: false });
    const slow = await row('slow');
    expect(slow).toMatchObject({ offset: 1, lag: 2, expiry_risk: false });
    expect(slow.lag_ms).toBeGreaterThanOrEqual(0);
    expect(slow.lag_ms).toBeLessThanOrEqual(Date.now() - produced + 50);

    // The slow group does not move: its oldest record ages, and once it has less time left under
    // retention.ms than the group has gone without committing, the group is at risk.
    await sleep(RETENTION_MS / 2 + 700);
    const later = await row('slow');
    expect(later.lag_ms).toBeGreaterThanOrEqual(RETENTION_MS / 2);
    expect(later.expiry_risk).toBe(true);
    expect((await row('fast')).expiry_risk).toBe(false);

    // Retention deletes the records; the committed offset is now below the log start.
    const deadline = Date.now() + 30_000;
    let gone: any;
    do {
      await sleep(500);
      gone = await row('slow');
    } while (gone.log_start_offset <= 1 && Date.now() < deadline);
    expect(gone.log_start_offset).toBeGreaterThan(1);
    expect(gone.expiry_risk).toBe(true);

    // `samsa groups describe` shows both columns.
    const out = (await runSamsa(['groups', 'describe', 'slow'], { url: server.url })).stdout;
    expect(out).toMatch(/LAG-TIME\s+EXPIRY-RISK/);
    expect(out).toMatch(/aging\s+0\s+1\s+3\s+\d+\s+\S+\s+YES/);
  }, 60_000);
});
