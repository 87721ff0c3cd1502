// The package as a user gets it: `npm pack` (which builds through `prepack`), the tarball
// installed into an empty project outside the repository, and there — plain Node ESM (and
// require) importing `samsa/client` against a running server, a TypeScript file importing it
// type-checked under module/moduleResolution NodeNext with strict and skipLibCheck false, and
// the installed `samsa` command run through npx. Nothing here resolves into the repository's
// own sources or node_modules, except the TypeScript compiler and @types/node used to check
// the consumer's file (tools of the consumer, not of the package).
//
// The install reaches the npm registry when the local npm cache lacks a dependency (the cache
// answers from the second run on). Install scripts are skipped: the only one is
// better-sqlite3's native build (≈ 90 s), which the client and the CLI never load.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, type ServerHandle, startServer } from '../helpers/server';

const exec = promisify(execFile);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';

let server: ServerHandle;
let work: string;
let app: string;
let tarball: string;
let packedFiles: string[];

/** The environment of a user's shell: none of the npm_* variables of the test run itself. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'NODE_OPTIONS' && k !== 'INIT_CWD') env[k] = v;
  return { ...env, ...extra };
}

async function run(cmd: string, args: string[], opts: { cwd: string; env?: Record<string, string>; timeout?: number }): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(cmd, args, { cwd: opts.cwd, env: userEnv(opts.env), timeout: opts.timeout ?? 60_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-package-'));
  const [pack] = await Promise.all([
    run(NPM, ['pack', REPO_ROOT, '--pack-destination', work, '--json'], { cwd: work, timeout: 150_000 }),
    startServer().then((s) => (server = s)),
  ]);
  expect(pack.code, pack.stderr).toBe(0);
  // prepack's build log comes first on stdout; the JSON report follows.
  const info = JSON.parse(pack.stdout.slice(pack.stdout.search(/^\[/m))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(work, info[0]!.filename);
  packedFiles = info[0]!.files.map((f) => f.path);

  app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'samsa-user', version: '1.0.0', private: true, type: 'module' }));
  const install = await run(NPM, ['install', tarball, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, timeout: 240_000 });
  expect(install.code, install.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await server?.stop();
  if (work && process.env.SAMSA_KEEP_TEST_DATA !== '1') fs.rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships built JavaScript with declarations, and no tests, sources or dev tools', () => {
    expect(packedFiles).toContain('dist/lib/client/index.js');
    expect(packedFiles).toContain('dist/lib/client/index.d.ts');
    expect(packedFiles).toContain('dist/bin/samsa.js');
    expect(packedFiles).toContain('docs/http-api.md');
    const stray = packedFiles.filter((f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || /^(test|bench|infra|functions|localstack|scripts)\//.test(f) || f.includes('dev-localstack'));
    expect(stray).toEqual([]);
    const pkg = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'samsa', 'package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    expect(Object.keys(pkg.dependencies)).not.toContain('typescript');
    // lz4js is the tests' independent LZ4 codec; lib/records has its own (lz4.ts).
    expect(Object.keys(pkg.dependencies)).not.toContain('lz4js');
    // Every relative import of the shipped JavaScript names a file that exists (what Node's ESM loader demands).
    const dist = path.join(app, 'node_modules', 'samsa', 'dist');
    const bad: string[] = [];
    for (const f of fs.readdirSync(dist, { recursive: true, encoding: 'utf8' })) {
      if (!/\.(js|d\.ts)$/.test(f)) continue;
      const text = fs.readFileSync(path.join(dist, f), 'utf8');
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)["'](\.{1,2}\/[^"']*)["']/g)) {
        if (!fs.existsSync(path.join(dist, path.dirname(f), m[1]!)) || !m[1]!.endsWith('.js')) bad.push(`${f}: ${m[1]}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('imports samsa/client from plain Node ESM and talks to a server', async () => {
    const topic = `pkg-${Date.now().toString(36)}`;
    fs.writeFileSync(
      path.join(app, 'use.mjs'),
      `import { Samsa, SamsaClientError, fetchPartition } from 'samsa/client';
const [url, topic] = process.argv.slice(2);
const samsa = new Samsa({ url });
await samsa.admin().createTopic({ topic, numPartitions: 2 });
const producer = samsa.producer({ lingerMs: 1 });
const meta = await producer.send({ topic, messages: [{ key: 'customer-42', value: 'hello from a user' }] });
await producer.disconnect();
const { partition, offset } = meta[0];
const got = await fetchPartition(samsa.http, topic, partition, offset);
let refused;
try { await samsa.admin().createTopic({ topic, numPartitions: 2 }); } catch (e) { refused = e instanceof SamsaClientError ? e.code : String(e); }
console.log(JSON.stringify({ partition, offset, value: got.messages[0].value.toString(), refused }));
`,
    );
    const r = await run(process.execPath, ['use.mjs', server.url, topic], { cwd: app });
    expect(r.code, r.stderr).toBe(0);
    // customer-42 → partition 0 of 2 by Kafka's murmur2 (the same key as the README's example).
    expect(JSON.parse(r.stdout)).toEqual({ partition: expect.any(Number), offset: 0, value: 'hello from a user', refused: 'TOPIC_ALREADY_EXISTS' });
    // CommonJS callers: require() of the ESM entry (Node ≥ 20.19) finds the same exports.
    const cjs = await run(process.execPath, ['-e', "const c = require('samsa/client'); console.log([typeof c.Samsa, typeof c.sigv4Signer, typeof c.bearerAuth].join(','))"], { cwd: app });
    expect(cjs.code, cjs.stderr).toBe(0);
    expect(cjs.stdout.trim()).toBe('function,function,function');
  });

  it('type-checks a TypeScript consumer (and the README examples) under NodeNext, strict, skipLibCheck false', async () => {
    const tsconfig = {
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ['node'],
        // The consumer's own @types/node (borrowed from this repository's dev tools).
        typeRoots: [path.join(REPO_ROOT, 'node_modules', '@types')],
      },
      files: ['good.ts'],
    };
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    fs.writeFileSync(
      path.join(app, 'good.ts'),
      `import { Samsa, sigv4Signer, bearerAuth, SamsaClientError, type RecordMetadata, type TopicDescription, type ClientConfig } from 'samsa/client';
const config: ClientConfig = { url: 'https://abc.lambda-url.eu-west-1.on.aws/', auth: { mode: 'sigv4' } };
const custom: ClientConfig = { url: 'https://abc.lambda-url.eu-west-1.on.aws/', signer: sigv4Signer({ region: 'eu-west-1' }) };
const jwt: ClientConfig = { url: 'https://api.example.com/', auth: { mode: 'bearer', token: async () => 'token' }, signer: bearerAuth('t') };
const samsa = new Samsa(config);
export async function main(): Promise<number> {
  const d: TopicDescription = await samsa.admin().describeTopic('orders');
  const sent: RecordMetadata[] = await samsa.producer().send({ topic: 'orders', messages: [{ key: 'k', value: Buffer.from('v') }] });
  try { new Samsa(jwt); new Samsa(custom); } catch (e) { if (e instanceof SamsaClientError) return e.retriable ? 1 : 2; }
  return d.partitions.length + sent.length;
}
`,
    );
    // The README's TypeScript examples, as a user pastes them into their project.
    const readmeExamples = [...fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    expect(readmeExamples.length).toBeGreaterThanOrEqual(2);
    readmeExamples.forEach((code, i) => fs.writeFileSync(path.join(app, `readme-${i}.ts`), code));
    tsconfig.files.push(...readmeExamples.map((_, i) => `readme-${i}.ts`));
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const good = await run(process.execPath, [tsc, '-p', '.'], { cwd: app, timeout: 120_000 });
    expect(good.stdout + good.stderr).toBe('');
    expect(good.code).toBe(0);
    // The types are real, not `any`: a misuse is caught.
    fs.writeFileSync(path.join(app, 'bad.ts'), `import { Samsa } from 'samsa/client';\nexport const n: number = new Samsa({ url: 'http://x' }).admin();\n`);
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ ...tsconfig, files: [...tsconfig.files, 'bad.ts'] }));
    const caught = await run(process.execPath, [tsc, '-p', '.'], { cwd: app, timeout: 120_000 });
    expect(caught.code).not.toBe(0);
    expect(caught.stdout).toMatch(/bad\.ts\(2,14\): error TS2322: Type 'Admin' is not assignable to type 'number'/);
  });

  it('runs the installed `samsa` command through npx', async () => {
    const help = await run(NPX, ['--no-install', 'samsa', '--help'], { cwd: app });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: samsa/m);
    expect(help.stdout).toContain('--auth');
    const topic = `pkg-cli-${Date.now().toString(36)}`;
    const created = await run(NPX, ['--no-install', 'samsa', 'topics', 'create', topic, '--partitions', '3'], { cwd: app, env: { SAMSA_URL: server.url } });
    expect(created.code, created.stderr).toBe(0);
    const list = await run(NPX, ['--no-install', 'samsa', 'topics', 'list'], { cwd: app, env: { SAMSA_URL: server.url } });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n')).toContain(topic);
  });
});
