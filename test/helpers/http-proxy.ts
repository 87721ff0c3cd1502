// A real HTTP proxy on loopback in front of a server, for "the server acted but the caller never
// heard": each request is forwarded whole and its response read whole, and for the requests a
// test picks the proxy then drops the caller's connection instead of answering — what a reset
// connection, a dying load balancer or a timed-out NAT does after the server has done its work.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  /** Path and query, as the caller sent them. */
  path: string;
  /** The status the server answered (the caller may not have seen it). */
  status: number;
  /** Whether the proxy dropped the response. */
  dropped: boolean;
}

export interface HttpProxy {
  /** The proxy's base URL: give it to the client instead of the server's. */
  url: string;
  /** Every request forwarded so far, in order. */
  readonly requests: ProxiedRequest[];
  /**
   * Drops the responses of the next `times` requests with this method whose path matches;
   * `meanwhile`, if given, runs after the server answered and before the caller's connection is
   * dropped (what another client does between an attempt and its retry).
   */
  dropResponses(method: string, path: RegExp, times?: number, meanwhile?: () => Promise<void>): void;
  close(): Promise<void>;
}

export async function startHttpProxy(target: string): Promise<HttpProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  const rules: Array<{ method: string; path: RegExp; left: number; meanwhile?: () => Promise<void> }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const up = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host, 'content-length': String(body.length) } },
        (ur) => {
          const parts: Buffer[] = [];
          ur.on('data', (c: Buffer) => parts.push(c));
          ur.on('end', () => {
            const path = req.url ?? '/';
            const rule = rules.find((r) => r.left > 0 && r.method === req.method && r.path.test(path));
            if (rule) rule.left--;
            requests.push({ method: req.method ?? '', path, status: ur.statusCode ?? 0, dropped: rule !== undefined });
            // The server has answered: the caller hears nothing but a reset.
            if (rule) {
              const meanwhile = rule.meanwhile ?? (() => Promise.resolve());
              return void meanwhile().finally(() => req.socket.resetAndDestroy());
            }
            const payload = Buffer.concat(parts);
            const headers = { ...ur.headers };
            delete headers['transfer-encoding'];
            // A HEAD response has no body but says the size a GET would send in Content-Length
            // (S3's HeadObject: the object's size): keep the upstream's, as test/history/proxy.ts does.
            if (req.method !== 'HEAD') headers['content-length'] = String(payload.length);
            res.writeHead(ur.statusCode ?? 502, headers);
            res.end(payload);
          });
        },
      );
      up.on('error', () => req.socket.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    dropResponses(method, path, times = 1, meanwhile) {
      rules.push({ method, path, left: times, ...(meanwhile ? { meanwhile } : {}) });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
