// GET /console: a small web console over the public HTTP API (topics, a message browser, a
// produce form, consumer groups with lag in offsets and time), served by the same app in
// every mode. Three static responses; the browser does the rest through the API, so it is
// behind the same authentication and authorization as any client. The Content-Security-Policy
// allows this origin only: the page works offline and cannot leak to another host.
import type { Hono } from 'hono';
import { CONSOLE_JS } from './script';
import { CONSOLE_CSS } from './style';

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Samsa console</title>
<link rel="stylesheet" href="/console/app.css">
<link rel="icon" href="data:,">
</head>
<body>
<header>
  <h1>Samsa</h1>
  <nav aria-label="Sections"><a href="#/topics">Topics</a><a href="#/groups">Consumer groups</a></nav>
  <div class="auth"><label for="token" style="flex-direction:row;align-items:center;gap:.4rem;color:#cfe3ff">API key
    <input id="token" type="password" autocomplete="off" placeholder="only with SAMSA_AUTH=keys"></label></div>
</header>
<div role="status" aria-live="polite" id="status"></div>
<main id="main" tabindex="-1"></main>
<script src="/console/app.js"></script>
</body>
</html>
`;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export function mountConsole(app: Hono): void {
  app.get('/console', (c) => c.body(PAGE, 200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' }));
  app.get('/console/', (c) => c.redirect('/console', 301));
  app.get('/console/app.js', (c) => c.body(CONSOLE_JS, 200, { ...SECURITY_HEADERS, 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/console/app.css', (c) => c.body(CONSOLE_CSS, 200, { ...SECURITY_HEADERS, 'content-type': 'text/css; charset=utf-8' }));
}
