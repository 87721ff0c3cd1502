// Time is injected everywhere it decides something (retention, segment.ms, sessions), so tests
// can move it without sleeping. Wall-clock ms since epoch, as Kafka timestamps are.
export interface Clock {
  now(): number;
  /** Monotonic ms for measuring durations (leases, sessions); performance.now() if absent. */
  monotonic?(): number;
}

export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
