// The web console where things go wrong, in a real browser (Debian's chromium driven by
// playwright-core) against a real embedded server: records whose timestamps a JS Date cannot
// show, a malformed link, an offset reset whose preview and apply must agree, a topic deleted
// and created again under an open page, binary header values and huge values, a group KafkaJS
// consumers hold, a group that moved to other topics, a server killed and restarted under a
// live view, and a slow server under periodic refreshes.
import { type Browser, chromium, type Page, type Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { Samsa } from '../../lib/client';
import { freePort, jsonRequest, type ServerHandle, startServer } from '../helpers/server';
import { CHROMIUM, chromiumAvailable } from '../helpers/chromium';

const available = chromiumAvailable;

let server: ServerHandle;
let kafkaPort: number;
let browser: Browser;
let page: Page;
let problems: string[] = [];
/** Console messages a test expects (Chromium logs every 4xx answer as a console error). */
let expectedConsole: RegExp | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The HTTP API as JSON (jsonRequest), against this file's server. */
const api = <T = Record<string, any>>(method: string, p: string, body?: unknown): Promise<T> => jsonRequest<T>(server.url, method, p, body);

/** Create a topic (a deleted name is free at once). */
async function createTopic(name: string, partitions: number): Promise<void> {
  await api('POST', '/v1/topics', { name, partitions });
}

describe.skipIf(!available)('web console under faults', () => {
  beforeAll(async () => {
    // Short job interval: a deleted topic's data goes soon. The Kafka listener: groups that
    // KafkaJS consumers hold.
    kafkaPort = await freePort();
    server = await startServer({ env: { SAMSA_JOB_INTERVAL_MS: '300', SAMSA_KAFKA_PORT: String(kafkaPort) } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  beforeEach(async () => {
    problems = [];
    expectedConsole = undefined;
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on('console', (m) => {
      if (m.type() === 'error' && !expectedConsole?.test(m.text())) problems.push(`console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 500) problems.push(`server error ${r.status()} for ${r.url()}`);
    });
  });

  afterEach(async () => {
    await page?.close();
  });

  it('shows records whose timestamps lie beyond what a JS Date can format', async () => {
    await createTopic('far-future', 1);
    // 8.64e15 ms is the last instant a Date holds; Kafka's timestamps are int64 and the API
    // takes any up to 2^53 - 1.
    const stamps = [Date.UTC(2024, 4, 1), 8.64e15, 8.64e15 + 1, Number.MAX_SAFE_INTEGER, Date.UTC(2024, 4, 2)];
    await api('POST', '/v1/topics/far-future/records', { records: stamps.map((timestamp, i) => ({ value: { n: i }, timestamp, partition: 0 })) });

    await page.goto(`${server.url}/console#/topics/far-future`);
    const rows = page.locator('#messages tbody tr');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(stamps.length);
    const texts = await rows.allTextContents();
    expect(texts[0]).toContain('2024-05-01T00:00:00.000Z');
    expect(texts[1]).toContain('+275760-09-13T00:00:00.000Z');
    expect(texts[2]).toContain(String(8.64e15 + 1));
    expect(texts[3]).toContain(String(Number.MAX_SAFE_INTEGER));
    expect(texts[4]).toContain('2024-05-02T00:00:00.000Z');
    expect(texts[4]).toContain('"n": 4');
    expect(await page.locator('#status').getAttribute('class')).not.toBe('error');
    expect(problems).toEqual([]);
  });

  it('answers a malformed link with a message, not a blank page', async () => {
    await page.goto(`${server.url}/console#/topics/%E0%A4%A`);
    await expect.poll(() => page.locator('#main').textContent()).toMatch(/cannot be read/);
    expect(await page.locator('#main [role="alert"]').textContent()).toContain('#/topics/%E0%A4%A');
    expect(await page.locator('#status').textContent()).toMatch(/Malformed link/);
    expect(problems).toEqual([]);
    // The console still works from there.
    await page.getByRole('link', { name: 'Topics' }).click();
    await expect.poll(() => page.locator('table[aria-label="Topics"]').count()).toBe(1);
  });

  it('previews an offset reset on every partition and applies exactly the preview', async () => {
    const topic = 'reset-preview';
    const group = 'g-reset-preview';
    await createTopic(topic, 3);
    for (let p = 0; p < 3; p++) {
      await api('POST', `/v1/topics/${topic}/records`, { records: Array.from({ length: 2 + p }, (_, i) => ({ value: i, partition: p })) });
    }
    // A group with no members that committed partition 0 only.
    await api('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic, partition: 0, offset: 1 }] });

    await page.goto(`${server.url}/console#/groups/${group}`);
    await expect.poll(() => page.locator('#reset-topic option').count(), { timeout: 10_000 }).toBe(1);
    await page.locator('#reset-to').selectOption('latest');
    await page.getByRole('button', { name: 'Preview reset' }).click();
    const preview = page.locator('table[aria-label="Reset preview"] tbody tr');
    // The reset moves all three partitions: the preview shows all three.
    await expect.poll(() => preview.count()).toBe(3);
    const rowsOf = async () =>
      page.locator('table[aria-label="Reset preview"] tbody tr').evaluateAll((trs) =>
        // No DOM types in this project's tsconfig: the cells as the browser hands them over.
        (trs as unknown as Array<{ children: ArrayLike<{ textContent: string | null }> }>).map((tr) => Array.from(tr.children, (td) => td.textContent)),
      );
    expect(await rowsOf()).toEqual([
      [topic, '0', '1', '2'],
      [topic, '1', '–', '3'],
      [topic, '2', '–', '4'],
    ]);

    // More records arrive between preview and apply: "latest" has moved, the preview has not.
    for (let p = 0; p < 3; p++) await api('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'late', partition: p }] });
    const sent: unknown[] = [];
    page.on('request', (r: Request) => {
      if (r.url().endsWith(`/v1/groups/${group}/offsets/reset`)) sent.push(r.postDataJSON());
    });
    await page.getByRole('button', { name: 'Apply reset' }).click();
    await expect.poll(() => page.locator('#status').textContent()).toBe('Offsets reset');
    expect(sent).toHaveLength(1);
    const committed = (await api<{ offsets: Array<{ topic: string; partition: number; offset: number }> }>('GET', `/v1/groups/${group}/offsets`)).offsets;
    expect(committed.map((o) => [o.partition, o.offset])).toEqual([
      [0, 2],
      [1, 3],
      [2, 4],
    ]);

    // A preview made stale by editing the form is not applied.
    await page.locator('#reset-to').selectOption('earliest');
    await page.getByRole('button', { name: 'Preview reset' }).click();
    await expect.poll(() => preview.count()).toBe(3);
    await page.locator('#reset-to').selectOption('latest');
    expect(await page.locator('#reset-apply').isDisabled()).toBe(true);
    expect(problems).toEqual([]);
  });

  it('starts a topic page over when its topic is deleted and created again under it', async () => {
    const topic = 'recreated';
    // While the topic is gone, the page's refreshes are answered 404.
    expectedConsole = /status of 404/;
    await createTopic(topic, 2);
    await api('POST', `/v1/topics/${topic}/records`, { records: Array.from({ length: 200 }, (_, i) => ({ value: i, partition: i % 2 })) });

    await page.goto(`${server.url}/console#/topics/${topic}`);
    await expect.poll(() => page.locator('table[aria-label="Partitions"] tbody tr').count(), { timeout: 10_000 }).toBe(2);
    await expect.poll(() => page.locator('#messages tbody tr').count(), { timeout: 10_000 }).toBe(100);
    // Two refreshes: the throughput chart has a point.
    await expect.poll(() => page.locator('svg.chart polyline').getAttribute('points'), { timeout: 10_000 }).toMatch(/\d/);

    await api('DELETE', `/v1/topics/${topic}`);
    await createTopic(topic, 1);
    await api('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'new', partition: 0 }] });

    await expect.poll(() => page.locator('table[aria-label="Partitions"] tbody tr').count(), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => page.locator('#messages tbody tr').count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator('#messages tbody tr').first().textContent()).toContain('new');
    // A few refreshes later the chart has never gone below zero (a point below the axis, y > 134).
    await sleep(5000);
    const points = ((await page.locator('svg.chart polyline').getAttribute('points')) ?? '').split(' ').filter(Boolean);
    for (const pt of points) expect(Number(pt.split(',')[1]), `chart point ${pt} below zero`).toBeLessThanOrEqual(134);
    expect(await page.locator('svg.chart text').textContent()).not.toMatch(/-\d/);

    // The topics list: the rate of the new incarnation is not computed against the old one's.
    await page.goto(`${server.url}/console#/topics`);
    const row = page.locator('table[aria-label="Topics"] tbody tr', { hasText: topic });
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toMatch(/0\.0$/);
    await api('DELETE', `/v1/topics/${topic}`);
    await createTopic(topic, 1);
    // Every rate shown over two refreshes of the list (every 5 s).
    const rates: string[] = [];
    for (const until = Date.now() + 11_000; Date.now() < until; await sleep(200)) {
      rates.push((await row.locator('td').last().textContent({ timeout: 200 }).catch(() => null)) ?? '');
    }
    expect(rates.filter((r) => r.startsWith('-')), 'negative message rates').toEqual([]);
    expect(problems).toEqual([]);
  }, 90_000);

  it('shows a header value that is not UTF-8 as its bytes, marked, not as base64 text that reads like the value', async () => {
    const topic = 'binary-header';
    await createTopic(topic, 1);
    const producer = new Samsa({ url: server.url }).producer({ lingerMs: 0 });
    await producer.send({ topic, messages: [{ value: 'v', partition: 0, headers: { bin: Buffer.from([0xff, 0xfe, 0x00, 0x41]), txt: 'hello' } }] });
    await producer.disconnect();

    await page.goto(`${server.url}/console#/topics/${topic}`);
    const cells = page.locator('#messages tbody tr td:nth-child(4)');
    await expect.poll(() => cells.count(), { timeout: 10_000 }).toBe(1);
    const text = (await cells.first().textContent()) ?? '';
    expect(text).toContain('txt=hello');
    expect(text).toMatch(/bin=ff fe 00 41\s+\(not UTF-8\)/);
    expect(text).not.toContain('//4AQQ==');
    expect(problems).toEqual([]);
  });

  it('shows a huge value cut to a bounded length, saying how large it is', async () => {
    const topic = 'huge-value';
    await createTopic(topic, 1);
    const big = 'x'.repeat(900 * 1024);
    for (let i = 0; i < 3; i++) await api('POST', `/v1/topics/${topic}/records`, { records: [{ value: big, partition: 0 }], value_format: 'string' });

    await page.goto(`${server.url}/console#/topics/${topic}`);
    const values = page.locator('#messages tbody tr td:nth-child(5)');
    await expect.poll(() => values.count(), { timeout: 15_000 }).toBe(3);
    for (const v of await values.allTextContents()) {
      // Whole, three of them are 2.7 MB of text in the page (and, followed live, up to 500 rows).
      expect(v.length).toBeLessThan(70_000);
      expect(v).toMatch(/921600 bytes/);
    }
    // Hex triples the text: still bounded.
    await page.locator('#browse-decode').selectOption('hex');
    await page.getByRole('button', { name: 'Show messages' }).click();
    await expect.poll(async () => (await values.allTextContents()).length === 3 && (await values.allTextContents()).every((v) => /^78 78/.test(v)), { timeout: 15_000 }).toBe(true);
    for (const v of await values.allTextContents()) expect(v.length).toBeLessThan(70_000);
    expect(problems).toEqual([]);
  });

  it('says a group is held by Kafka-protocol members rather than showing it empty, and offers no reset', async () => {
    const topic = 'kafka-held';
    const group = 'kafka-held-group';
    await createTopic(topic, 2);
    await api('POST', `/v1/topics/${topic}/records`, { records: Array.from({ length: 4 }, (_, i) => ({ value: i, partition: i % 2 })) });
    const kafka = new Kafka({ clientId: 'console-test', brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => void (joined = true));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommitInterval: 100, eachMessage: async () => {} });
    try {
      await expect.poll(() => joined, { timeout: 20_000 }).toBe(true);
      await page.goto(`${server.url}/console#/groups/${group}`);
      const summary = page.locator('#group-summary');
      await expect.poll(() => summary.textContent(), { timeout: 10_000 }).toMatch(/Kafka-protocol members/);
      expect(await summary.textContent()).not.toMatch(/State Empty|0 member\(s\)/);
      // A reset would be refused (409): the form says why instead of offering it.
      expect(await page.getByRole('button', { name: 'Preview reset' }).isDisabled()).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await consumer.disconnect();
    }
    // Once they left, the group is an ordinary empty one again.
    await expect.poll(() => page.locator('#group-summary').textContent(), { timeout: 15_000 }).toMatch(/State Empty/);
    expect(await page.getByRole('button', { name: 'Preview reset' }).isDisabled()).toBe(false);
  }, 60_000);

  it('offers the topics a group has offsets of now, not those it had when the page opened', async () => {
    const group = 'g-topics-change';
    await createTopic('tc-first', 1);
    await createTopic('tc-second', 1);
    for (const t of ['tc-first', 'tc-second']) await api('POST', `/v1/topics/${t}/records`, { records: [{ value: 1, partition: 0 }] });
    await api('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic: 'tc-first', partition: 0, offset: 1 }] });

    await page.goto(`${server.url}/console#/groups/${group}`);
    const options = () => page.locator('#reset-topic option').allTextContents();
    await expect.poll(options, { timeout: 10_000 }).toEqual(['tc-first']);
    // The group moves on to another topic: as many topics as before, not the same ones.
    await api('DELETE', `/v1/groups/${group}/offsets`, { topic: 'tc-first' });
    await api('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic: 'tc-second', partition: 0, offset: 1 }] });
    await expect.poll(() => page.locator('#lag tbody tr').allTextContents(), { timeout: 10_000 }).toEqual([expect.stringContaining('tc-second')]);
    await expect.poll(options, { timeout: 5000 }).toEqual(['tc-second']);
    expect(problems).toEqual([]);
  });

  it('shows a group KafkaJS consumers joined before they committed anything as theirs, not as not found', async () => {
    const topic = 'kafka-fresh';
    const group = 'kafka-fresh-group';
    await createTopic(topic, 1); // no records: nothing to commit
    const kafka = new Kafka({ clientId: 'console-test', brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => void (joined = true));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
    try {
      await expect.poll(() => joined, { timeout: 20_000 }).toBe(true);
      await page.goto(`${server.url}/console#/groups/${group}`);
      await expect.poll(() => page.locator('#group-summary').textContent(), { timeout: 10_000 }).toMatch(/Kafka-protocol members/);
      expect(await page.locator('#status').getAttribute('class')).not.toBe('error');
      expect(problems).toEqual([]);
    } finally {
      await consumer.disconnect();
    }
  }, 60_000);

  it('lists a group KafkaJS consumers hold as theirs, not as an empty group', async () => {
    const topic = 'kafka-listed';
    const group = 'kafka-listed-group';
    await createTopic(topic, 1);
    await api('POST', `/v1/topics/${topic}/records`, { records: [{ value: 1, partition: 0 }] });
    const kafka = new Kafka({ clientId: 'console-test', brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => void (joined = true));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommitInterval: 100, eachMessage: async () => {} });
    const row = page.locator('table[aria-label="Consumer groups"] tbody tr', { hasText: group });
    try {
      await expect.poll(() => joined, { timeout: 20_000 }).toBe(true);
      // Its commit makes the group known to the offset store, so the list has it.
      await expect.poll(async () => (await api<{ offsets: unknown[] }>('GET', `/v1/groups/${group}/offsets`)).offsets.length, { timeout: 10_000 }).toBe(1);
      await page.goto(`${server.url}/console#/groups`);
      await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(1);
      expect(await row.textContent()).toMatch(/Kafka-protocol members/);
      expect(await row.textContent()).not.toMatch(/Empty/);
      expect(problems).toEqual([]);
    } finally {
      await consumer.disconnect();
    }
  }, 60_000);

  it('follows live as soon as "Follow live" is ticked, without another click', async () => {
    const topic = 'follow-tick';
    await createTopic(topic, 1);
    await api('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'first', partition: 0 }] });
    await page.goto(`${server.url}/console#/topics/${topic}`);
    const offsets = () => page.locator('#messages tbody tr td:first-child').allTextContents();
    await expect.poll(offsets, { timeout: 10_000 }).toEqual(['0']);
    await page.locator('#browse-follow').check();
    await api('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'second', partition: 0 }] });
    await expect.poll(offsets, { timeout: 10_000 }).toEqual(['0', '1']);
    expect(problems).toEqual([]);
  });

  it('keeps following a partition live across a server restart, from where it was: no gap, no duplicate', async () => {
    // Its own server, killed (-9) and started again on the same port and data under the page.
    const own = await startServer();
    const call = <T = Record<string, any>>(method: string, p: string, body?: unknown): Promise<T> => jsonRequest<T>(own.url, method, p, body);
    // While the server is down the page's requests fail; Chromium logs them.
    expectedConsole = /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|Failed to load resource/;
    const topic = 'live-restart';
    await call('POST', '/v1/topics', { name: topic, partitions: 1 });
    await call('POST', `/v1/topics/${topic}/records`, { records: [0, 1, 2].map((i) => ({ value: `v${i}`, partition: 0 })) });

    await page.goto(`${own.url}/console#/topics/${topic}`);
    const offsets = () => page.locator('#messages tbody tr td:first-child').allTextContents();
    await expect.poll(offsets, { timeout: 10_000 }).toEqual(['0', '1', '2']);
    await page.locator('#browse-follow').check();
    await page.getByRole('button', { name: 'Show messages' }).click();
    await expect.poll(offsets, { timeout: 10_000 }).toEqual(['0', '1', '2']);
    await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'v3', partition: 0 }] });
    await expect.poll(offsets, { timeout: 10_000 }).toEqual(['0', '1', '2', '3']);

    await own.kill('SIGKILL');
    await sleep(3000); // the page's long poll and refreshes fail meanwhile
    const again = await startServer({ dataDir: own.dataDir, port: own.port });
    try {
      await call('POST', `/v1/topics/${topic}/records`, { records: [4, 5].map((i) => ({ value: `v${i}`, partition: 0 })) });
      await expect.poll(offsets, { timeout: 20_000 }).toEqual(['0', '1', '2', '3', '4', '5']);
      // And it is still following.
      await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'v6', partition: 0 }] });
      await expect.poll(offsets, { timeout: 20_000 }).toEqual(['0', '1', '2', '3', '4', '5', '6']);
      expect(await page.locator('#status').getAttribute('class')).not.toBe('error');
      expect(problems).toEqual([]);
    } finally {
      await again.stop();
    }
  }, 90_000);

  // The name of a deleted topic is free at once: between the page's last refresh and the user's
  // click, the topic it shows may have been deleted and another created under its name. The
  // Delete button is for the topic on the page, not for one the user never saw.
  it('deletes only the topic its page shows, never one created under the name since', async () => {
    const topic = 'delete-shown';
    expectedConsole = /status of 404/;
    await createTopic(topic, 2);
    await page.goto(`${server.url}/console#/topics/${topic}`);
    await expect.poll(() => page.locator('table[aria-label="Partitions"] tbody tr').count(), { timeout: 10_000 }).toBe(2);
    // The page's refreshes are held from here: it shows the topic it loaded, as it would until
    // its next refresh.
    await page.route(
      (u) => u.pathname === `/v1/topics/${topic}`,
      (route) => (route.request().method() === 'GET' ? undefined : route.continue()),
    );
    await api('DELETE', `/v1/topics/${topic}`);
    await createTopic(topic, 1);
    await api('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'keep', partition: 0 }] });

    await page.locator('#delete-confirm').fill(topic);
    await page.locator('button.danger', { hasText: 'Delete topic' }).click();
    await expect.poll(() => page.locator('#status').getAttribute('class'), { timeout: 10_000 }).toBe('error');
    const now = await api<{ partitions: Array<{ high_watermark: number }> }>('GET', `/v1/topics/${topic}`);
    expect(now.partitions.map((p) => p.high_watermark)).toEqual([1]);
    expect(problems).toEqual([]);
  });

  it('never overlaps periodic refreshes, and aborts a page’s requests when the user moves on', async () => {
    const topic = 'slow-server';
    await createTopic(topic, 1);
    const isDescribe = (u: string) => new URL(u).pathname === `/v1/topics/${topic}` && new URL(u).search === '?stats=true';
    let inFlight = 0;
    let most = 0;
    let started = 0;
    const aborted: string[] = [];
    const counted = new Set<Request>();
    const done = (r: Request) => {
      if (counted.delete(r)) inFlight--;
    };
    page.on('request', (r) => {
      if (!isDescribe(r.url())) return;
      counted.add(r);
      started++;
      inFlight++;
      most = Math.max(most, inFlight);
    });
    page.on('requestfinished', done);
    page.on('requestfailed', (r) => {
      if (isDescribe(r.url())) aborted.push(r.failure()?.errorText ?? '');
      done(r);
    });
    // A server that takes 5 s to describe the topic, while the page refreshes every 2 s.
    await page.route(
      (u) => isDescribe(u.href),
      async (route) => {
        await sleep(5000);
        await route.continue().catch(() => undefined); // aborted meanwhile
      },
    );

    await page.goto(`${server.url}/console#/topics/${topic}`);
    await sleep(9000);
    expect(most, 'refreshes of the topic page in flight at once').toBe(1);
    await expect.poll(() => page.locator('table[aria-label="Partitions"] tbody tr').count(), { timeout: 10_000 }).toBe(1);

    // Moving on while a refresh is in flight aborts it at once.
    await expect.poll(() => inFlight, { timeout: 10_000 }).toBe(1);
    await page.getByRole('link', { name: 'Consumer groups' }).click();
    await expect.poll(() => inFlight, { timeout: 1500 }).toBe(0);
    expect(aborted).toEqual(['net::ERR_ABORTED']);
    // And the page that left starts no more of them.
    const before = started;
    await sleep(5000);
    expect(started).toBe(before);
    expect(problems).toEqual([]);
  }, 60_000);
});
