// The console's stylesheet: system fonts only (nothing is fetched from anywhere), readable on a
// laptop screen, visible focus rings for keyboard use.
export const CONSOLE_CSS = String.raw`
:root { --fg:#1b1f24; --muted:#5b6470; --line:#d8dde3; --bg:#f6f7f9; --card:#fff; --accent:#0b5cad; --warn:#a15c00; --bad:#b3261e; --ok:#1e7a3a; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Ubuntu,sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; align-items:center; gap:1.5rem; padding:.6rem 1.2rem; background:#12263f; color:#fff; }
header h1 { font-size:1.1rem; margin:0; letter-spacing:.02em; }
header nav a { color:#cfe3ff; margin-right:1rem; text-decoration:none; font-weight:500; }
header nav a[aria-current="page"] { color:#fff; text-decoration:underline; }
header .auth { margin-left:auto; display:flex; gap:.4rem; align-items:center; font-size:.85rem; }
main { padding:1rem 1.2rem 3rem; max-width:1200px; }
h2 { font-size:1.2rem; margin:.2rem 0 .8rem; }
h3 { font-size:1rem; margin:1.2rem 0 .5rem; }
section.card { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:.8rem 1rem; margin-bottom:1rem; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:.35rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-weight:600; color:var(--muted); font-size:.85rem; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
a { color:var(--accent); }
form.inline { display:flex; flex-wrap:wrap; gap:.6rem; align-items:flex-end; }
label { display:flex; flex-direction:column; font-size:.8rem; color:var(--muted); gap:.15rem; }
input, select, textarea, button { font:inherit; padding:.3rem .5rem; border:1px solid #aab3bd; border-radius:4px; background:#fff; color:var(--fg); }
textarea { min-height:4.5rem; min-width:22rem; font-family:ui-monospace,Menlo,Consolas,monospace; }
button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; }
button.secondary { background:#fff; color:var(--accent); }
button.danger { background:var(--bad); border-color:var(--bad); }
:focus-visible { outline:3px solid #f0a500; outline-offset:1px; }
.muted { color:var(--muted); }
.warn { color:var(--warn); font-weight:600; }
.bad { color:var(--bad); }
.ok { color:var(--ok); }
#status { min-height:1.4rem; padding:.4rem 1.2rem 0; }
button:disabled { opacity:.45; cursor:not-allowed; }
#status.error { color:var(--bad); font-weight:600; }
pre.value { margin:0; white-space:pre-wrap; word-break:break-all; max-height:12rem; overflow:auto; font:12px/1.4 ui-monospace,Menlo,Consolas,monospace; }
.badge { display:inline-block; padding:0 .45rem; border-radius:999px; background:#e8eef6; font-size:.8rem; }
svg.chart { width:100%; height:140px; background:#fbfcfd; border:1px solid var(--line); border-radius:4px; }
svg.chart polyline { fill:none; stroke:var(--accent); stroke-width:2; }
svg.chart text { font-size:10px; fill:var(--muted); }
.pager { display:flex; gap:.6rem; align-items:center; margin-top:.6rem; }
.pager[hidden] { display:none; }
.row { display:flex; gap:1rem; flex-wrap:wrap; }
.row > section { flex:1 1 420px; }
`;
