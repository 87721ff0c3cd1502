// GET /docs: the OpenAPI document rendered as one readable HTML page, server-side and with no
// external assets (Samsa's embedded mode and Lambda work offline).

interface Doc {
  info?: { title?: string; version?: string; description?: string };
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
}
interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: Array<{ name: string; in: string; required?: boolean; description?: string; schema?: unknown }>;
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}

const esc = (s: unknown): string =>
  String(s ?? '').replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

const schemaRef = (schema: unknown): string => {
  if (!schema || typeof schema !== 'object') return '';
  const ref = (schema as { $ref?: string }).$ref;
  if (ref) {
    const name = ref.split('/').pop()!;
    return `<a href="#schema-${esc(name)}">${esc(name)}</a>`;
  }
  return `<code>${esc(JSON.stringify(schema))}</code>`;
};

export function renderDocsPage(doc: Doc): string {
  const ops: string[] = [];
  const toc: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(methods)) {
      const id = `${method}-${path}`.replace(/[^a-zA-Z0-9]+/g, '-');
      toc.push(`<li><a href="#${id}"><b>${esc(method.toUpperCase())}</b> ${esc(path)}</a> — ${esc(op.summary)}</li>`);
      const params = (op.parameters ?? [])
        .map((p) => `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? 'yes' : ''}</td><td>${esc(p.description)}</td></tr>`)
        .join('');
      const body = Object.entries(op.requestBody?.content ?? {})
        .map(([type, c]) => `<p>Body <code>${esc(type)}</code>: ${schemaRef(c.schema)}</p>`)
        .join('');
      const responses = Object.entries(op.responses ?? {})
        .map(([status, r]) => `<tr><td>${esc(status)}</td><td>${esc(r.description)}</td><td>${Object.entries(r.content ?? {}).map(([t, c]) => `${esc(t)} ${schemaRef(c.schema)}`).join('<br>')}</td></tr>`)
        .join('');
      ops.push(`<section id="${id}"><h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> ${esc(path)}</h3>
<p>${esc(op.summary)}</p>${op.description ? `<p>${esc(op.description)}</p>` : ''}
${params ? `<table><tr><th>parameter</th><th>in</th><th>required</th><th></th></tr>${params}</table>` : ''}
${body}<table><tr><th>status</th><th>meaning</th><th>body</th></tr>${responses}</table></section>`);
    }
  }
  const schemas = Object.entries(doc.components?.schemas ?? {})
    .map(([name, s]) => `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3><pre>${esc(JSON.stringify(s, null, 2))}</pre></section>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(doc.info?.title)} API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
pre{background:#f6f6f6;padding:.75rem;overflow:auto}.m{font-family:monospace;padding:0 .3rem;border-radius:3px;color:#fff;background:#555}
.get{background:#2b7}.post{background:#27b}.delete{background:#b33}.patch{background:#b82}section{border-top:1px solid #eee;margin-top:1rem}</style></head>
<body><h1>${esc(doc.info?.title)} API <small>${esc(doc.info?.version)}</small></h1><p>${esc(doc.info?.description)}</p>
<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<h2>Routes</h2><ul>${toc.join('')}</ul>${ops.join('')}<h2>Schemas</h2>${schemas}</body></html>`;
}
