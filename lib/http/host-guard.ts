// Host and Origin checks for the Node server (bin/serve.ts). A server on localhost is reachable
// from every web page the user opens: a page can send "simple" cross-origin POSTs (no
// preflight), and DNS rebinding can make a hostile name resolve to 127.0.0.1 so the browser
// treats the server as that page's own origin. Refusing Hosts outside an allow-list (loopback
// names by default) defeats rebinding; refusing a cross-site Origin defeats the simple POSTs;
// refusing what the browser marks cross-site (Sec-Fetch-Site) defeats the GETs a page makes
// without an Origin (an <img> whose poll URL carries ack= commits a group's offsets).
// Lambda does not use this: a Function URL's host is AWS's, and its callers are signed.
import type { MiddlewareHandler } from 'hono';

export interface HostGuardOptions {
  /** Host names (no port) a request may name; "*" allows any. Loopback names are always in. */
  allowedHosts?: string[];
  /** Origins ("https://app.example.com") allowed besides the server's own. "*" allows any. */
  allowedOrigins?: string[];
}

const LOOPBACK = ['localhost', '127.0.0.1', '::1', '[::1]'];

/**
 * What another site's page may still fetch or link to: static, read-only, no data. Everything
 * else is refused when the browser says the request comes from another site.
 */
const PUBLIC_PATHS = new Set(['/healthz', '/openapi.json', '/docs', '/console', '/console/', '/console/app.js', '/console/app.css']);
const isPublicRead = (method: string, path: string): boolean => (method === 'GET' || method === 'HEAD') && PUBLIC_PATHS.has(path);

/** Host header (or an Origin's authority) without its port, lower-cased; IPv6 keeps brackets. */
export function hostName(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    return end > 0 ? a.slice(0, end + 1) : a;
  }
  const colon = a.indexOf(':');
  return colon >= 0 ? a.slice(0, colon) : a;
}

/** Comma-separated list from the environment (SAMSA_ALLOWED_HOSTS, SAMSA_ALLOWED_ORIGINS). */
export function parseList(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * The server's own bind address joins the allow-list unless it is a wildcard, so a server
 * started with SAMSA_HOST=10.0.0.5 answers requests to that address without more settings.
 */
export function hostGuardOptions(bindHost: string, env: { SAMSA_ALLOWED_HOSTS?: string; SAMSA_ALLOWED_ORIGINS?: string }): HostGuardOptions {
  const hosts = parseList(env.SAMSA_ALLOWED_HOSTS);
  if (bindHost && bindHost !== '0.0.0.0' && bindHost !== '::' && bindHost !== '[::]') hosts.push(bindHost);
  return { allowedHosts: hosts, allowedOrigins: parseList(env.SAMSA_ALLOWED_ORIGINS) };
}

export function hostGuard(opts: HostGuardOptions = {}): MiddlewareHandler {
  const hosts = new Set([...LOOPBACK, ...(opts.allowedHosts ?? []).map(hostName)]);
  const anyHost = hosts.has('*');
  const origins = new Set((opts.allowedOrigins ?? []).map((o) => o.trim().toLowerCase().replace(/\/+$/, '')));
  const anyOrigin = origins.has('*');
  const refuse = (message: string, details: Record<string, unknown>) => ({ error_code: 'NOT_AUTHORIZED', message, ...details });

  // The last Host accepted: a client sends the same one on every request, and deciding it again
  // (trim, lower-case, slice: new strings each time) was per-request garbage (issue 18).
  let lastAllowedHost: string | undefined;
  // Not async: a request that passes (all of them, nearly) costs no promise of its own here;
  // a refusal is answered as a resolved promise, as an async middleware would have.
  return (c, next) => {
    const host = c.req.header('host') ?? '';
    if (host !== lastAllowedHost && !anyHost && !hosts.has(hostName(host))) {
      return Promise.resolve(
        c.json(refuse(`Host "${host.slice(0, 100)}" is not served here; add it to SAMSA_ALLOWED_HOSTS to allow it`, { reason: 'host_not_allowed' }), 403),
      );
    }
    lastAllowedHost = host;
    const origin = c.req.header('origin');
    if (origin !== undefined && !anyOrigin) {
      const o = origin.trim().toLowerCase().replace(/\/+$/, '');
      let sameOrigin = false;
      try {
        // Same origin: the page was served by this very host and port.
        sameOrigin = o !== 'null' && new URL(o).host === host.trim().toLowerCase();
      } catch {
        sameOrigin = false;
      }
      if (!sameOrigin && !origins.has(o)) {
        return Promise.resolve(
          c.json(refuse(`cross-site request from Origin "${origin.slice(0, 100)}" refused; add it to SAMSA_ALLOWED_ORIGINS to allow it`, { reason: 'origin_not_allowed' }), 403),
        );
      }
    }
    // Fetch metadata: a browser marks every request with the site that made it, Origin or not.
    // An <img>, a link or a form GET from another site carries no Origin, yet a poll with ack=
    // commits offsets. Such a request passes only if it names an allowed Origin (a listed app's
    // fetch; the Origin check above has vouched for it) or asks for a public, static page.
    const site = c.req.header('sec-fetch-site');
    if ((site === 'cross-site' || site === 'same-site') && !anyOrigin && origin === undefined && !isPublicRead(c.req.method, c.req.path)) {
      return Promise.resolve(
        c.json(
          refuse(`request from another site's page (Sec-Fetch-Site: ${site}) refused; only an Origin listed in SAMSA_ALLOWED_ORIGINS may act on this server from another site`, {
            reason: 'cross_site_request',
          }),
          403,
        ),
      );
    }
    return next();
  };
}
