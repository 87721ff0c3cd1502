// The web console in a real browser (Debian's chromium driven by playwright-core) against a real
// embedded server: create a topic, produce from the form, see the message decoded, and watch a
// group's lag go to zero — failing on any console error, failed request, or request that leaves
// the server's origin. Screenshots land in test/artifacts/ (the README shows two of them).
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonRequest, REPO_ROOT, type ServerHandle, startServer } from '../helpers/server';
import { CHROMIUM, chromiumAvailable } from '../helpers/chromium';

const available = chromiumAvailable;
const ARTIFACTS = path.join(REPO_ROOT, 'test', 'artifacts');

let server: ServerHandle;
let browser: Browser;
let page: Page;
const problems: string[] = [];

/** The HTTP API as JSON (jsonRequest), against this file's server. */
const api = (method: string, p: string, body?: unknown): Promise<Record<string, unknown>> => jsonRequest(server.url, method, p, body);

describe.skipIf(!available)('web console', () => {
  beforeAll(async () => {
    server = await startServer();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // As this machine's probe runs it: the closed network refuses Chromium's own background calls.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const origin = new URL(server.url).origin;
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith('data:') && new URL(u).origin !== origin) problems.push(`request left the origin: ${u}`);
    });
    page.on('requestfailed', (r) => {
      // A long poll aborted by navigating away is the console's own doing, not a failure.
      if (r.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 500) problems.push(`server error ${r.status()} for ${r.url()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('creates a topic, produces from the form and shows the message decoded', async () => {
    await page.goto(`${server.url}/console`);
    await page.getByLabel('Name', { exact: true }).fill('console-demo');
    await page.getByLabel('Partitions', { exact: true }).fill('2');
    await page.getByRole('button', { name: 'Create topic' }).click();
    await page.waitForURL(/#\/topics\/console-demo$/);
    await expect.poll(() => page.locator('table[aria-label="Partitions"] tbody tr').count()).toBe(2);

    await page.getByLabel('Key', { exact: true }).fill('customer-42');
    await page.getByLabel('Value', { exact: true }).fill('{"total": 9.5, "item": "console"}');
    await page.getByLabel('Headers').fill('source=console');
    await page.getByRole('button', { name: 'Produce' }).click();
    await expect.poll(() => page.locator('#status').textContent()).toMatch(/Produced to partition \d at offset 0/);
    const partition = Number((await page.locator('#status').textContent())!.match(/partition (\d)/)![1]);

    await page.locator('#browse-partition').selectOption(String(partition));
    await page.getByRole('button', { name: 'Show messages' }).click();
    const rows = page.locator('#messages tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    const text = (await rows.first().textContent())!;
    expect(text).toContain('customer-42');
    expect(text).toContain('source=console');
    expect(text).toContain('"item": "console"'); // decoded as JSON, pretty-printed

    // The topics list shows it with its record count.
    await page.goto(`${server.url}/console#/topics`);
    const row = page.locator('table[aria-label="Topics"] tbody tr', { hasText: 'console-demo' });
    await expect.poll(() => row.textContent()).toMatch(/console-demo\s*2\s*1/);

    await page.goto(`${server.url}/console#/topics/console-demo`);
    await page.locator('#browse-partition').selectOption(String(partition));
    await page.getByRole('button', { name: 'Show messages' }).click();
    await expect.poll(() => rows.count()).toBe(1);
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-topic.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it("shows a group's lag per partition and watches it go to zero", async () => {
    await api('POST', '/v1/topics/console-demo/records', { records: Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: { n: i } })) });
    const join = (await api('POST', '/v1/groups/console-group/members', { topics: ['console-demo'] })) as { member_id: string; generation: number };

    await page.goto(`${server.url}/console#/groups/console-group`);
    await expect.poll(() => page.locator('#group-summary').textContent(), { timeout: 15_000 }).toMatch(/total lag 6/);
    await expect.poll(() => page.locator('#lag tbody tr').count()).toBe(2);
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-group.png'), fullPage: true });

    // The member processes everything and commits: the console follows the lag to zero.
    const desc = (await api('GET', '/v1/topics/console-demo')) as { partitions: Array<{ partition: number; high_watermark: number }> };
    await api('POST', '/v1/groups/console-group/offsets', {
      member_id: join.member_id,
      generation: join.generation,
      offsets: desc.partitions.map((p) => ({ topic: 'console-demo', partition: p.partition, offset: p.high_watermark })),
    });
    await expect.poll(() => page.locator('#group-summary').textContent(), { timeout: 15_000 }).toMatch(/total lag 0/);
    expect(await page.locator('#lag tbody').textContent()).not.toContain('at risk');

    await page.goto(`${server.url}/console#/groups`);
    await expect.poll(() => page.locator('table[aria-label="Consumer groups"] tbody').textContent()).toContain('console-group');
    expect(problems).toEqual([]);
  });

  // The list describes each topic it shows (stats, rates), so it shows a page of them at a
  // time; every topic must still be reachable from it, not only the first page.
  it('reaches every topic of a long list, page by page', async () => {
    const names = Array.from({ length: 250 }, (_, i) => `many-${String(i).padStart(3, '0')}`);
    for (let i = 0; i < names.length; i += 25) {
      await Promise.all(names.slice(i, i + 25).map((name) => api('POST', '/v1/topics', { name, partitions: 1 })));
    }
    const all = ((await api('GET', '/v1/topics')) as { topics: Array<{ name: string }> }).topics.map((t) => t.name);
    expect(all.length).toBe(251); // console-demo too

    await page.goto(`${server.url}/console#/topics`);
    const rows = page.locator('table[aria-label="Topics"] tbody tr');
    const shown = async (): Promise<string[]> => (await rows.locator('td:first-child').allTextContents()).map((t) => t.trim());
    const seen = new Set<string>();
    await expect.poll(() => rows.count()).toBeGreaterThan(1);
    for (let pages = 0; pages < 10; pages++) {
      for (const n of await shown()) seen.add(n);
      const next = page.getByRole('button', { name: /^Next/ });
      if (!(await next.isVisible()) || (await next.isDisabled())) break;
      const before = (await shown())[0];
      await next.click();
      await expect.poll(async () => (await shown())[0]).not.toBe(before);
    }
    expect([...seen].sort()).toEqual([...all].sort());
    // The way back works too.
    await page.getByRole('button', { name: /^Previous/ }).click();
    await expect.poll(async () => (await shown())[0]).toBe(all[0]);
    expect(problems).toEqual([]);
  }, 120_000);
});
