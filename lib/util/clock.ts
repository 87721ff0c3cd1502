// Time is injected everywhere it decides something (retention, segment.ms, sessions, leases,
// the write-ahead age bound, retry pauses), so tests can move it without sleeping. Wall-clock
// ms since epoch, as Kafka timestamps are; monotonic ms for durations, which a wall clock
// stepped by NTP would get wrong.
export interface Clock {
  now(): number;
  /** Monotonic ms for measuring durations (leases, age bounds, time budgets). */
  monotonic(): number;
  /** Resolves once `ms` have passed on this clock. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * A clock tests move by hand: both readings are the one time it is set to, and a sleep ends
 * when an advance passes its deadline (never on its own).
 */
export class ManualClock implements Clock {
  private sleepers: Array<{ until: number; wake: () => void }> = [];

  constructor(private t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((wake) => this.sleepers.push({ until: this.t + ms, wake }));
  }
  advance(ms: number): void {
    this.set(this.t + ms);
  }
  set(ms: number): void {
    this.t = ms;
    const due = this.sleepers.filter((s) => s.until <= ms);
    this.sleepers = this.sleepers.filter((s) => s.until > ms);
    for (const s of due.sort((a, b) => a.until - b.until)) s.wake();
  }
  /** Sleeps not yet ended (a test can wait for the code under test to start one). */
  get sleeping(): number {
    return this.sleepers.length;
  }
}
