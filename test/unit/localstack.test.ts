// The LocalStack dev loop cannot run here (no container engine), so it is kept correct by
// construction: the compose file must agree with the code's own names, its setup service must
// run the real setup script, and `npm run dev:localstack` must work against an emulator
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

  it('creates the resources with Samsa’s own setup script and the defaults the code uses', () => {
    const setup = compose.services.setup;
    const script = setup.command.find((c: string) => c.endsWith('.ts'));
    expect(fs.existsSync(path.join(REPO_ROOT, script))).toBe(true);
    expect(pkg.scripts['setup:aws']).toContain(script);
    // The repo root is mounted where the command runs.
    expect(setup.volumes).toContain(`..:${setup.working_dir}`);
    expect(setup.environment.AWS_ENDPOINT_URL).toBe('http://localstack:4566');
    expect(setup.environment.SAMSA_BUCKET).toBe(DEFAULT_BUCKET);
    expect(setup.environment.SAMSA_TABLE).toBe(DEFAULT_TABLE);
    expect(setup.depends_on.localstack.condition).toBe('service_healthy');
    // Lambda's runtime and the setup container agree on the Node major version.
    expect(setup.image).toMatch(/^node:22/);
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
