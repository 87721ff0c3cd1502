// Runs the `samsa` command from its source (bin/samsa.ts through tsx) as a user types it, with
// standard input, the environment it is given and a hard time limit; test/e2e/package.test.ts
// runs the built one from an installed tarball.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './server';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** SAMSA_URL for this run. */
  url?: string;
  /** Added to the environment (after `baseEnv`). */
  env?: Record<string, string | undefined>;
  /** The environment to start from (default: this process's). */
  baseEnv?: NodeJS.ProcessEnv;
  input?: string;
}

export function runSamsa(args: string[], opts: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bin/samsa.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...(opts.baseEnv ?? process.env), ...(opts.url ? { SAMSA_URL: opts.url } : {}), ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}
