// The CDK app (infra/app.ts) as `cdk synth -c key=value` runs it: a child process given its
// context the way the CLI gives it (CDK_CONTEXT_JSON, cdk.json's context included) and an output
// directory. A context key or value the app does not know must fail the synth and name it —
// `-c samsaAuth=jtw` deploying the IAM default instead of the JWT front that was asked for is
// the failure this guards against. Bundling is skipped (aws:cdk:bundling-stacks = []).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CDK_JSON_CONTEXT = (JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
const outDirs: string[] = [];

function synthApp(context: Record<string, unknown>): { status: number | null; stderr: string; template?: Record<string, any>; outDir: string } {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-app-'));
  outDirs.push(outDir);
  const env = { ...process.env };
  delete env['CDK_DEFAULT_ACCOUNT'];
  delete env['CDK_DEFAULT_REGION'];
  const res = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'infra', 'app.ts')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...env,
      CDK_OUTDIR: outDir,
      CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context }),
    },
  });
  const name = String(context['stackName'] ?? 'Samsa');
  const file = path.join(outDir, `${name}.template.json`);
  return { status: res.status, stderr: `${res.stderr}${res.stdout}`, outDir, ...(fs.existsSync(file) ? { template: JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, any> } : {}) };
}

afterAll(() => {
  for (const d of outDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('infra/app.ts context', () => {
  it('an unknown key (a typo) fails the synth, naming the key and the keys there are', () => {
    const res = synthApp({ samsaAuth: 'jtw' });
    expect(res.status, res.stderr).not.toBe(0);
    expect(res.template).toBeUndefined();
    expect(res.stderr).toMatch(/unknown context key "samsaAuth"/);
    expect(res.stderr).toMatch(/auth, jwtIssuer, jwtAudience/);
  }, 180_000);

  it('a key named like an Object.prototype member is as unknown as any other', () => {
    const res = synthApp({ toString: 'x' });
    expect(res.status, res.stderr).not.toBe(0);
    expect(res.template).toBeUndefined();
    expect(res.stderr).toMatch(/unknown context key "toString"/);
  }, 180_000);

  it('values it does not know fail the synth, every one named in one message', () => {
    const res = synthApp({ auth: 'jtw', removalPolicy: 'destory', accessLogs: 'no', jwtIssuer: 'https://issuer.example.com/' });
    expect(res.status, res.stderr).not.toBe(0);
    expect(res.template).toBeUndefined();
    expect(res.stderr).toMatch(/auth: "jtw"/);
    expect(res.stderr).toMatch(/removalPolicy: "destory"/);
    expect(res.stderr).toMatch(/accessLogs: "no"/);
    // JWT settings without auth=jwt would be dropped silently too.
    expect(res.stderr).toMatch(/jwtIssuer/);
  }, 180_000);

  it('known keys with valid values synthesize what they say, beside the CDK\'s own context (cdk.json flags, aws:cdk:*)', () => {
    const res = synthApp({
      stackName: 'SamsaDev',
      auth: 'jwt',
      jwtIssuer: 'https://issuer.example.com/',
      jwtAudience: 'web,cli',
      removalPolicy: 'destroy',
      accessLogs: 'false',
      // What the CLI adds itself.
      'aws:cdk:enable-path-metadata': true,
      'acknowledged-issue-numbers': [32775],
    });
    expect(res.status, res.stderr).toBe(0);
    const resources = Object.values(res.template!['Resources'] as Record<string, { Type: string; Properties: Record<string, any>; DeletionPolicy?: string }>);
    expect(resources.find((r) => r.Type === 'AWS::ApiGatewayV2::Authorizer')!.Properties['JwtConfiguration']).toEqual({ Issuer: 'https://issuer.example.com/', Audience: ['web', 'cli'] });
    const table = resources.find((r) => r.Type === 'AWS::DynamoDB::Table')!;
    expect(table.DeletionPolicy).toBe('Delete');
    expect(table.Properties['DeletionProtectionEnabled']).toBe(false);
    expect(resources.filter((r) => r.Type === 'AWS::S3::Bucket')).toHaveLength(1);
  }, 180_000);
});
