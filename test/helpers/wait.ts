// Waiting for something a server does in its own time (a rebalance, a background job).

/** Polls `ok` every 50 ms until it holds; after `ms`, fails naming `what` (and `context()`, e.g. the server's log). */
export async function until(what: string, ms: number, ok: () => boolean | Promise<boolean>, context: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
