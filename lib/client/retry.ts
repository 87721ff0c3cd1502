// Retries with jittered exponential backoff, as KafkaJS's retrier: attempt n waits about
// initialRetryTime * multiplier^n, randomised by ±factor, capped at maxRetryTime. Only errors
// whose `retriable` is true are retried; anything else surfaces at once.

export interface RetryOptions {
  /** Retries after the first attempt (default 5). */
  retries?: number;
  /** First wait, ms (default 100). */
  initialRetryTime?: number;
  /** Randomisation: each wait is multiplied by a value in [1 - factor, 1 + factor] (default 0.2). */
  factor?: number;
  /** Growth per retry (default 2). */
  multiplier?: number;
  /** Longest single wait, ms (default 30000). */
  maxRetryTime?: number;
}

export interface RetryHooks {
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called before each wait (logging, tests). */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { retries: 5, initialRetryTime: 100, factor: 0.2, multiplier: 2, maxRetryTime: 30_000 };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The wait before retry number `attempt` (0-based). */
export function backoff(opts: RetryOptions, attempt: number, random: () => number = Math.random): number {
  const o = { ...DEFAULT_RETRY, ...opts };
  const base = o.initialRetryTime * Math.pow(o.multiplier, attempt);
  const jitter = 1 - o.factor + random() * 2 * o.factor;
  return Math.min(o.maxRetryTime, Math.max(0, Math.round(base * jitter)));
}

export function isRetriable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;
}

/**
 * Whether the server may have carried out a failed attempt: a lost or timed-out response or a
 * 5xx leaves that unknown; a throttle (429) is refused before anything runs. A retry after such
 * an attempt may meet the attempt's own effect (the topic it created, the group it deleted).
 */
export function mayHaveActed(err: unknown): boolean {
  return isRetriable(err) && (err as { status?: unknown }).status !== 429;
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}, hooks: RetryHooks = {}): Promise<T> {
  const retries = opts.retries ?? DEFAULT_RETRY.retries;
  const wait = hooks.sleep ?? sleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetriable(err) || attempt >= retries) throw err;
      // Never sooner than the server asked (Retry-After), within maxRetryTime.
      const asked = (err as { retryAfterMs?: unknown }).retryAfterMs;
      const maxRetryTime = opts.maxRetryTime ?? DEFAULT_RETRY.maxRetryTime;
      const ms = Math.max(backoff(opts, attempt, hooks.random), typeof asked === 'number' && asked > 0 ? Math.min(asked, maxRetryTime) : 0);
      hooks.onRetry?.(err, attempt, ms);
      await wait(ms);
    }
  }
}
