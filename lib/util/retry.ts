// Retrying a conditional write that lost a race. K writers retrying at once with no pause cost
// O(K²) conditional writes (every round, all but one fail again); a jittered exponential pause
// spreads them out. The first retry goes at once: a lost race usually returns the winner's
// state with the failure, and the writer that retries with it then rarely collides again.
// Sleep and randomness are injected so tests can observe the delays without waiting for them.

export interface BackoffOptions {
  /** Pause ceiling before the second retry; doubles with each later one (default 2 ms). */
  baseMs?: number;
  /** Longest single pause (default 200 ms). */
  maxMs?: number;
  /** Attempts in all, the first included (default 50). */
  maxAttempts?: number;
  /** Uniform in [0, 1) (default Math.random). */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Told of each conflict that will be retried (metrics). */
  onRetry?: (attempt: number, err: unknown) => void;
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The pause before attempt `attempt` (1-based; the first attempt and the first retry wait 0):
 * "full jitter", uniform in [0, min(maxMs, baseMs · 2^(attempt − 3))].
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  if (attempt <= 2) return 0;
  const ceiling = Math.min(opts.maxMs ?? 200, (opts.baseMs ?? 2) * 2 ** (attempt - 3));
  return (opts.random ?? Math.random)() * ceiling;
}

/**
 * Run `attempt` until it succeeds, retrying (after backoffDelay) while `isConflict` says its
 * failure was a lost race. After `maxAttempts`, `exhausted` builds the error to throw (by
 * default the last conflict is rethrown).
 */
export async function retryOnConflict<T>(
  attempt: (n: number) => Promise<T>,
  isConflict: (err: unknown) => boolean,
  opts: BackoffOptions & { exhausted?: (last: unknown) => unknown } = {},
): Promise<T> {
  const max = opts.maxAttempts ?? 50;
  for (let n = 1; ; n++) {
    const pause = backoffDelay(n, opts);
    if (pause > 0) await (opts.sleep ?? realSleep)(pause);
    try {
      return await attempt(n);
    } catch (err) {
      if (!isConflict(err)) throw err;
      if (n >= max) throw opts.exhausted ? opts.exhausted(err) : err;
      opts.onRetry?.(n, err);
    }
  }
}
