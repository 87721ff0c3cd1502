// A fault-injecting TCP proxy for the Kafka listener. It reads the size-prefixed frames both
// ways, so it knows which response answers which request (Kafka answers a connection's requests
// in order), and it can lose a response: the request is forwarded and acted on, then instead of
// its answer the client sees its connection cut — what a client sees when the network drops an
// answer. The client then retries, as real producers and consumers do. Point
// SAMSA_KAFKA_ADVERTISED at the proxy so Metadata and FindCoordinator send clients through it.
// When the server is down (kill -9) a new connection is accepted and then cut at once.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface KafkaProxy {
  port: number;
  /**
   * Decides, for each response, whether it is lost (the client's connection is cut instead).
   * Gets the request's API key, how many requests of that key the proxy has seen so far, and
   * the client id of its header.
   */
  lose: (apiKey: number, nth: number, clientId: string) => boolean;
  /** Responses lost, by API key. */
  lost: Map<number, number>;
  /** Cut every open connection (e.g. with the server killed). */
  cutAll(): void;
  close(): Promise<void>;
}

/** The whole frames at the start of `buf`, and the offset of the first incomplete one. */
function frames(buf: Buffer): [Buffer[], number] {
  const out: Buffer[] = [];
  let pos = 0;
  while (buf.length - pos >= 4) {
    const n = buf.readInt32BE(pos);
    if (buf.length - pos - 4 < n) break;
    out.push(buf.subarray(pos, pos + 4 + n));
    pos += 4 + n;
  }
  return [out, pos];
}

export async function startKafkaProxy(upstreamPort: number): Promise<KafkaProxy> {
  const seen = new Map<number, number>();
  const sockets = new Set<net.Socket>();
  const proxy: KafkaProxy = { port: 0, lose: () => false, lost: new Map(), cutAll: () => {}, close: async () => {} };
  const server = net.createServer((client) => {
    const up = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(up);
    const cut = (): void => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('error', cut);
    up.on('error', cut);
    client.on('close', cut);
    up.on('close', cut);
    // API keys and verdicts of the requests forwarded and not yet answered, in order. A Produce
    // with acks=0 has no answer; the tests here never send one.
    const pending: Array<{ apiKey: number; drop: boolean }> = [];
    let fromClient = Buffer.alloc(0);
    let fromServer = Buffer.alloc(0);
    client.on('data', (d: Buffer) => {
      fromClient = Buffer.concat([fromClient, d]);
      const [fs, rest] = frames(fromClient);
      fromClient = fromClient.subarray(rest);
      for (const f of fs) {
        const apiKey = f.readInt16BE(4);
        const nth = (seen.get(apiKey) ?? 0) + 1;
        seen.set(apiKey, nth);
        const idLen = f.readInt16BE(12);
        const clientId = idLen < 0 ? '' : f.toString('utf8', 14, 14 + idLen);
        pending.push({ apiKey, drop: proxy.lose(apiKey, nth, clientId) });
        up.write(f);
      }
    });
    up.on('data', (d: Buffer) => {
      fromServer = Buffer.concat([fromServer, d]);
      const [fs, rest] = frames(fromServer);
      fromServer = fromServer.subarray(rest);
      for (const f of fs) {
        const { apiKey, drop } = pending.shift() ?? { apiKey: -1, drop: false };
        if (drop) {
          proxy.lost.set(apiKey, (proxy.lost.get(apiKey) ?? 0) + 1);
          cut();
          return;
        }
        client.write(f);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.port = (server.address() as AddressInfo).port;
  proxy.cutAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  proxy.close = () =>
    new Promise<void>((resolve) => {
      proxy.cutAll();
      server.close(() => resolve());
    });
  return proxy;
}
