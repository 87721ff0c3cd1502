// Wakes long-polling fetches when a partition's high watermark moves in this process. Other
// processes' commits cannot reach us, so waiters in AWS mode also re-check the store on an
// interval (see LogEngine.fetch); in embedded mode every commit passes through here.
type Waiter = (hw: number) => void;

export class Notifier {
  private waiters = new Map<string, Set<Waiter>>();

  /** Resolve with the new high watermark when it exceeds `hw`, or undefined on timeout/abort. */
  wait(key: string, hw: number, timeoutMs: number, signal?: AbortSignal): Promise<number | undefined> {
    return new Promise((resolve) => {
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      const done = (value: number | undefined): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(waiter);
        if (set.size === 0) this.waiters.delete(key);
        resolve(value);
      };
      const waiter: Waiter = (newHw) => {
        if (newHw > hw) done(newHw);
      };
      const onAbort = (): void => done(undefined);
      const timer = setTimeout(() => done(undefined), Math.max(0, timeoutMs));
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
    });
  }

  notify(key: string, hw: number): void {
    const set = this.waiters.get(key);
    if (!set) return;
    for (const w of [...set]) w(hw);
  }

  /** Wake everyone (shutdown). */
  wakeAll(): void {
    for (const set of this.waiters.values()) for (const w of [...set]) w(Number.MAX_SAFE_INTEGER);
  }
}
