// docs/http-api.md is the contract users read; /openapi.json is what the server says it serves.
// Their route lists must agree both ways: a route added to the server without documentation,
// or documented without being served, fails here. And the project stands on its own: no file
// of the repository points at a path outside it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, type ServerHandle, startServer } from '../helpers/server';

const DOC = path.join(REPO_ROOT, 'docs', 'http-api.md');

/** `METHOD /path` of every route heading (### `GET /v1/topics`) of the document. */
export function documentedRoutes(markdown: string): string[] {
  return [...markdown.matchAll(/^#{2,4} `(GET|POST|PUT|PATCH|DELETE) (\/[^`\s]*)`\s*$/gm)].map((m) => `${m[1]} ${m[2]}`);
}

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

describe('docs/http-api.md', () => {
  it('documents exactly the routes /openapi.json serves', async () => {
    const spec = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const served = Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    // The document itself is a route too, outside its own paths.
    served.push('GET /openapi.json');
    const documented = documentedRoutes(fs.readFileSync(DOC, 'utf8'));
    expect(new Set(documented).size, 'a route is documented twice').toBe(documented.length);
    expect(served.filter((r) => !documented.includes(r)), 'served but not documented').toEqual([]);
    expect(documented.filter((r) => !served.includes(r)), 'documented but not served').toEqual([]);
    expect(documented.length).toBeGreaterThanOrEqual(20);
  });

  it('names every error code the server raises', () => {
    const doc = fs.readFileSync(DOC, 'utf8');
    // The code → status table of lib/errors.ts, then those codes some other module actually uses.
    const codes = [...fs.readFileSync(path.join(REPO_ROOT, 'lib/errors.ts'), 'utf8').matchAll(/^\s{2}([A-Z_]+): \d{3},$/gm)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(10);
    const used = codes.filter((c) => new RegExp(`error_code: '${c}'|SamsaError\\('${c}'|'${c}'`).test(sourcesOf('lib')));
    expect(used.filter((c) => !doc.includes(`\`${c}\``)), 'raised by the server but not in the error table').toEqual([]);
  });
});

function sourcesOf(dir: string): string {
  return (fs.readdirSync(path.join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' }) as string[])
    .filter((f) => f.endsWith('.ts') && f !== 'errors.ts')
    .map((f) => fs.readFileSync(path.join(REPO_ROOT, dir, f), 'utf8'))
    .join('\n');
}

describe('the repository stands on its own', () => {
  const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && !f.startsWith('node_modules/') && f !== 'package-lock.json' && fs.statSync(path.join(REPO_ROOT, f), { throwIfNoEntry: false })?.isFile());

  it('no file refers to a path outside the repository', () => {
    const offenders: string[] = [];
    for (const f of tracked) {
      const text = fs.readFileSync(path.join(REPO_ROOT, f), 'utf8');
      if (text.includes('\0')) continue; // binary
      text.split('\n').forEach((line, i) => {
        // The API contract once lived in a folder beside the checkout; nothing may depend on such a path.
        if (/(^|[\s('"`[])(\.\.\/)+shared\/|\/work\/(shared|main|wt-)/.test(line)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('every relative link of the Markdown files resolves inside the repository', () => {
    const broken: string[] = [];
    for (const f of tracked.filter((t) => t.endsWith('.md'))) {
      const text = fs.readFileSync(path.join(REPO_ROOT, f), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
        const abs = path.resolve(REPO_ROOT, path.dirname(f), target);
        if (!abs.startsWith(REPO_ROOT + path.sep) || !fs.existsSync(abs)) broken.push(`${f}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
