// The LocalStack dev loop cannot run here (no container engine), so it is kept correct by
// construction: the compose file must agree with the code's own names, must run nothing of the
// project inside a container (the setup runs on the host, whatever its platform), and
// `npm run dev:localstack` — host-side setup, then the server — must work against an emulator
// endpoint (moto stands in for LocalStack).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_BUCKET, DEFAULT_TABLE } from '../../lib/storage/aws-resources';
import { awsEndpoint, describeAws, uniqueName } from '../helpers/aws';
import { freePort, REPO_ROOT } from '../helpers/server';

const compose = parse(fs.readFileSync(path.join(REPO_ROOT, 'localstack/docker-compose.yml'), 'utf8'));
const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));

describe('localstack/docker-compose.yml', () => {
  it('runs LocalStack with S3 and DynamoDB on port 4566', () => {
    const ls = compose.services.localstack;
    expect(ls.image).toMatch(/^localstack\/localstack/);
    expect(ls.ports).toContain('127.0.0.1:4566:4566');
    expect(ls.environment.SERVICES.split(',').sort()).toEqual(['dynamodb', 's3']);
    const hook = ls.volumes.find((v: string) => v.includes('/etc/localstack/init/ready.d'));
    expect(hook).toBeDefined();
    const hookDir = path.join(REPO_ROOT, 'localstack', hook.split(':')[0]);
    const scripts = fs.readdirSync(hookDir);
    expect(scripts.length).toBeGreaterThan(0);
    for (const s of scripts) expect(fs.statSync(path.join(hookDir, s)).mode & 0o111).not.toBe(0);
  });

  it('runs no project code in a container: setup happens on the host', () => {
    // A container that mounts the checkout and runs `npx tsx` executes the host's node_modules —
    // esbuild's and better-sqlite3's binaries for the host platform — on Linux: broken on macOS.
    expect(Object.keys(compose.services)).toEqual(['localstack']);
    for (const [name, svc] of Object.entries(compose.services as Record<string, { volumes?: string[]; command?: unknown; entrypoint?: unknown; working_dir?: string }>)) {
      const binds = (svc.volumes ?? []).map((v) => v.split(':')[0]!).filter((src) => src.startsWith('.') || src.startsWith('/'));
      for (const src of binds) {
        const resolved = path.resolve(REPO_ROOT, 'localstack', src);
        // Only the init hooks may be mounted, never the checkout (or its node_modules).
        expect(resolved, `${name} mounts ${src}`).toBe(path.join(REPO_ROOT, 'localstack', 'init', 'ready.d'));
      }
      const cmd = JSON.stringify([svc.command ?? '', svc.entrypoint ?? '']);
      expect(cmd, `${name} runs ${cmd}`).not.toMatch(/npx|tsx|node_modules|npm /);
    }
    // The setup the hook points to is the host-side one, with the defaults the code uses.
    const hook = fs.readFileSync(path.join(REPO_ROOT, 'localstack/init/ready.d/10-samsa.sh'), 'utf8');
    expect(hook).toContain('npm run dev:localstack');
    expect(pkg.scripts['setup:aws']).toMatch(/bin\/setup-aws\.(ts|js)/);
    const dev = fs.readFileSync(path.join(REPO_ROOT, 'bin/dev-localstack.ts'), 'utf8');
    expect(dev).toMatch(/setup-aws\.ts/);
  });

  it('is what `npm run dev:localstack` talks to by default', () => {
    const dev = fs.readFileSync(path.join(REPO_ROOT, 'bin/dev-localstack.ts'), 'utf8');
    expect(pkg.scripts['dev:localstack']).toContain('bin/dev-localstack.ts');
    expect(dev).toContain("AWS_ENDPOINT_URL: 'http://localhost:4566'");
    expect(dev).toContain(`SAMSA_BUCKET: '${DEFAULT_BUCKET}'`);
    expect(dev).toContain(`SAMSA_TABLE: '${DEFAULT_TABLE}'`);
  });
});

describeAws('npm run dev:localstack against an emulator endpoint', () => {
  let child: ReturnType<typeof spawn> | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('creates the resources and serves the API in AWS mode', async () => {
    const port = await freePort();
    child = spawn(process.execPath, ['--import', 'tsx', 'bin/dev-localstack.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, AWS_ENDPOINT_URL: awsEndpoint()!, PORT: String(port), SAMSA_BUCKET: uniqueName('devls'), SAMSA_TABLE: uniqueName('devls') },
      stdio: 'ignore',
    });
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch {
        /* starting */
      }
      if (Date.now() > deadline) throw new Error('dev:localstack did not come up');
      await new Promise((r) => setTimeout(r, 200));
    }
    const created = await fetch(`${base}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'dev', partitions: 1 }) });
    expect(created.status).toBe(201);
    const produced = await fetch(`${base}/v1/topics/dev/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: { hello: 'localstack' } }] }) });
    expect(((await produced.json()) as { offsets: Array<{ offset: number }> }).offsets[0]!.offset).toBe(0);
  }, 90_000);
});
