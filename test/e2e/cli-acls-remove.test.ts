// `samsa acls remove` shows what it would remove and asks first, as kafka-acls --remove does:
// at a terminal a [y/N] prompt (run here under a real pseudo-terminal, util-linux `script`),
// elsewhere (a script, CI) nothing happens without --force.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSamsa } from '../helpers/cli';
import { REPO_ROOT, sharedServer } from '../helpers/server';

const server = sharedServer();

async function aclsOf(principal: string): Promise<Array<{ operation: string }>> {
  return ((await (await fetch(`${server.url}/v1/acls?principal=${encodeURIComponent(principal)}`)).json()) as { acls: Array<{ operation: string }> }).acls;
}

async function addReadWrite(principal: string): Promise<void> {
  const r = await runSamsa(['acls', 'add', '--principal', principal, '--topic', 'audit', '--operation', 'read', '--operation', 'write'], { url: server.url });
  expect(r.code).toBe(0);
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs samsa under a pseudo-terminal and types `answer` and Enter once it prompts. */
function samsaAtTerminal(args: string[], answer: string): Promise<{ code: number | null; output: string }> {
  const cmd = [process.execPath, '--import', 'tsx', path.join(REPO_ROOT, 'bin/samsa.ts'), ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: REPO_ROOT, env: { ...process.env, SAMSA_URL: server.url }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = false;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (!answered && output.includes('[y/N]')) {
        answered = true;
        child.stdin.write(`${answer}\n`);
      }
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, output: output.replace(/\r\n/g, '\n') });
    });
  });
}

describe('samsa acls remove: confirmation', () => {
  it('without a terminal and without --force: lists the matches, exits 2 and removes nothing', async () => {
    await addReadWrite('User:kept');
    const r = await runSamsa(['acls', 'remove', '--principal', 'User:kept', '--topic', 'audit'], { url: server.url });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/User:kept\s+topic\s+audit\s+literal\s+read\s+allow/);
    expect(r.stderr).toMatch(/User:kept\s+topic\s+audit\s+literal\s+write\s+allow/);
    expect(r.stderr).toMatch(/--force/);
    expect(await aclsOf('User:kept')).toHaveLength(2);
  });

  it('--force removes what matches without asking', async () => {
    await addReadWrite('User:forced');
    const r = await runSamsa(['acls', 'remove', '--principal', 'User:forced', '--topic', 'audit', '--operation', 'write', '--force'], { url: server.url });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Removed 1 ACL.\n');
    expect((await aclsOf('User:forced')).map((a) => a.operation)).toEqual(['read']);
  });

  it('a filter that matches nothing has nothing to confirm', async () => {
    const r = await runSamsa(['acls', 'remove', '--principal', 'User:nobody-at-all'], { url: server.url });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Removed 0 ACLs.\n');
  });

  it('at a terminal: asks [y/N]; anything but y removes nothing, y removes the bindings it listed', async () => {
    await addReadWrite('User:asked');
    const no = await samsaAtTerminal(['acls', 'remove', '--principal', 'User:asked', '--topic', 'audit'], 'n');
    expect(no.output).toMatch(/User:asked\s+topic\s+audit\s+literal\s+read\s+allow/);
    expect(no.output).toMatch(/Remove these 2 ACLs\? \[y\/N\]/);
    expect(no.output).toMatch(/Nothing removed/);
    expect(no.code).toBe(1);
    expect(await aclsOf('User:asked')).toHaveLength(2);

    const yes = await samsaAtTerminal(['acls', 'remove', '--principal', 'User:asked', '--topic', 'audit'], 'y');
    expect(yes.output).toMatch(/Removed 2 ACLs\./);
    expect(yes.code).toBe(0);
    expect(await aclsOf('User:asked')).toEqual([]);
  });
});
