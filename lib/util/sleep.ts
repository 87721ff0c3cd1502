// A pause that a signal ends early: long-poll waits on the server, and the client's idle waits
// that a seek, a pause or a disconnect must cut short.

/** Resolves after `ms`, or as soon as `signal` aborts (at once if it already has). */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
