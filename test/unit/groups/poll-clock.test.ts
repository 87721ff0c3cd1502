// A long poll's wait is a duration: measured on the wall clock, a step of it back (NTP, a VM
// resumed from a snapshot) kept a poll waiting far past its wait_ms — on Lambda, an invocation
// billed until its timeout, answered after the client had given up.
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { type Harness, harness } from './harness';

let h: Harness;
beforeEach(async () => {
  h = await harness();
  await h.engine.createTopic('t', 2);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await h.close();
});

it('a long poll returns after its wait_ms even if the wall clock steps back meanwhile', async () => {
  const c = h.instances[0]!.coord;
  const m = await c.join('g', { topics: ['t'] });
  await c.poll('g', m.memberId, {});
  const started = performance.now();
  const waiting = c.poll('g', m.memberId, { waitMs: 500 });
  // 100 ms into the wait, the wall clock steps an hour back.
  await new Promise((r) => setTimeout(r, 100));
  const realNow = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 5_000);
  const r = await Promise.race([waiting, new Promise<'still waiting'>((resolve) => ac.signal.addEventListener('abort', () => resolve('still waiting')))]);
  clearTimeout(timer);
  expect(r === 'still waiting' ? r : 'returned').toBe('returned');
  expect(performance.now() - started).toBeLessThan(3_000);
  vi.restoreAllMocks(); // let a poll still waiting end
}, 20_000);
