// A TCP proxy on loopback that can freeze its connections: a frozen connection stays open at both
// ends but carries nothing more in either direction, and neither end hears a FIN or a reset —
// a half-open connection, as a NAT or a load balancer that forgot it leaves behind. Connections
// opened after a freeze work normally.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  url: string;
  /** Connections open now (frozen ones included). */
  readonly open: number;
  /** Freezes every connection open now; resolves with how many. */
  freeze(): number;
  /**
   * Freezes the next `times` connections on which the caller sends bytes matching `pattern`,
   * before they are forwarded: a request that never arrives, an answer that never comes.
   */
  freezeOn(pattern: RegExp, times?: number): void;
  /** How many connections froze on a freezeOn pattern. */
  readonly trapped: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const upstream = new URL(target);
  const conns = new Set<{ client: net.Socket; server: net.Socket; frozen: boolean }>();
  const traps: Array<{ pattern: RegExp; left: number }> = [];
  let trapped = 0;
  const proxy = net.createServer((client) => {
    const server = net.connect(Number(upstream.port), upstream.hostname);
    const conn = { client, server, frozen: false };
    conns.add(conn);
    const pipe = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (d: Buffer) => {
        const trap = from === client && !conn.frozen ? traps.find((t) => t.left > 0 && t.pattern.test(d.toString('latin1'))) : undefined;
        if (trap) {
          trap.left--;
          trapped++;
          conn.frozen = true;
        }
        if (!conn.frozen) to.write(d);
      });
      from.on('end', () => {
        if (!conn.frozen) to.end();
      });
      from.on('error', () => {
        if (!conn.frozen) to.destroy();
      });
      from.on('close', () => {
        if (conn.frozen) return;
        to.destroy();
        conns.delete(conn);
      });
    };
    pipe(client, server);
    pipe(server, client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    get open() {
      return conns.size;
    },
    freeze() {
      let n = 0;
      for (const c of conns) {
        if (!c.frozen) n++;
        c.frozen = true;
      }
      return n;
    },
    freezeOn(pattern, times = 1) {
      traps.push({ pattern, left: times });
    },
    get trapped() {
      return trapped;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) {
          c.client.destroy();
          c.server.destroy();
        }
        conns.clear();
        proxy.close(() => resolve());
      }),
  };
}
