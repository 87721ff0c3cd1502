// The synthesized cloud assembly for the bundle tests: runs `npm run synth` when cdk.out is
// missing or older than the sources it is built from (a fresh clone, or after an edit), and
// maps each function of the template to its bundle.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CDK_OUT = path.join(ROOT, 'cdk.out');
export const STACK = 'Samsa';
const TEMPLATE = path.join(CDK_OUT, `${STACK}.template.json`);

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (/\.(ts|json)$/.test(entry.name)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

export function ensureSynth(): void {
  const sources = Math.max(
    ...['lib', 'functions', 'infra'].map((d) => newestSource(path.join(ROOT, d))),
    ...['package-lock.json', 'cdk.json'].map((f) => fs.statSync(path.join(ROOT, f)).mtimeMs),
  );
  if (fs.existsSync(TEMPLATE) && fs.statSync(TEMPLATE).mtimeMs >= sources) return;
  const res = spawnSync('npm', ['run', '--silent', 'synth'], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  if (res.status !== 0) throw new Error(`npm run synth failed (${res.status ?? res.signal}):\n${res.stdout}\n${res.stderr}`);
}

export interface FunctionBundle {
  logicalId: string;
  /** Absolute path of the bundle's index.mjs. */
  file: string;
  environment: Record<string, unknown>;
  handler: string;
}

type Resources = Record<string, { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, string> }>;

/** The function whose Description names `functions/<name>.ts`. */
export function functionBundle(name: 'api' | 'flush' | 'retention'): FunctionBundle {
  const template = JSON.parse(fs.readFileSync(TEMPLATE, 'utf8')) as { Resources: Resources };
  const entry = Object.entries(template.Resources).find(
    ([, r]) => r.Type === 'AWS::Lambda::Function' && String(r.Properties['Description']).includes(`functions/${name}.ts`),
  );
  if (!entry) throw new Error(`no function for functions/${name}.ts in ${TEMPLATE}`);
  const [logicalId, r] = entry;
  const asset = r.Metadata?.['aws:asset:path'];
  if (!asset) throw new Error(`${logicalId} has no aws:asset:path metadata`);
  const [file] = String(r.Properties['Handler']).split('.');
  return {
    logicalId,
    file: path.join(CDK_OUT, asset, `${file}.mjs`),
    environment: ((r.Properties['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}),
    handler: String(r.Properties['Handler']).split('.')[1]!,
  };
}
