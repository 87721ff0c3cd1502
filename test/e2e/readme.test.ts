// The README's shell examples are commands a newcomer pastes: this runs them, as written, in
// bash from the repository root — `npm start &` included (it builds, then serves) — against a
// fresh data directory on a free port (the only edit: `localhost:8080` → that port), and checks
// each command's exit code and, where the README shows one (`# → ...`, continued by `#   ...`
// lines, `...` matching anything), its exact output.
//
// Every sh block of the README is either run here or listed in SKIPPED with the reason it
// cannot run on this machine; a new block that is neither fails the test.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT, tempDir } from '../helpers/server';

interface Block {
  section: string;
  lines: string[];
}
interface Command {
  text: string;
  expected?: string;
}

const RUN = ['Try it', 'Client and CLI'];
const SKIPPED: Record<string, string> = {
  Samsa: 'npm ci reinstalls node_modules and npm test is the whole suite; the npm start it shows runs in "Try it"',
  'Against S3 and DynamoDB': 'starts moto on the fixed port 5000; the same steps run in test/unit/localstack.test.ts and test/unit/storage-aws/adapters.test.ts',
  'Deploy on AWS': 'needs an AWS account',
  'Calling the API': 'needs a deployed stack; test/e2e/auth.test.ts signs the same requests for a SigV4-verifying endpoint',
  'Tear down': 'needs an AWS account',
  'Who may do what': 'runs against a deployed stack as its super user; test/e2e/cli-acls.test.ts runs samsa acls add (prefixed) / list / remove and quotas set / list against a keys-mode server',
  LocalStack: 'needs a container engine',
};

function shellBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let section = '';
  let inBlock: Block | undefined;
  let fence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      if (!fence && line.trim() === '```sh') inBlock = { section, lines: [] };
      else if (fence && inBlock) {
        blocks.push(inBlock);
        inBlock = undefined;
      }
      fence = !fence;
      continue;
    }
    if (fence) inBlock?.lines.push(line);
    else if (/^#{1,4} /.test(line)) section = line.replace(/^#+ /, '').trim();
  }
  return blocks;
}

/** Commands (backslash continuations joined) with the output the README shows after them. */
function commands(block: Block): Command[] {
  const out: Command[] = [];
  for (let i = 0; i < block.lines.length; i++) {
    const line = block.lines[i]!;
    const shown = /^# → (.*)$/.exec(line);
    if (shown) {
      const last = out.at(-1)!;
      last.expected = shown[1]!;
      while (/^# {3}/.test(block.lines[i + 1] ?? '')) last.expected += `\n${block.lines[++i]!.slice(4)}`;
      continue;
    }
    if (line.trim() === '' || line.startsWith('#')) continue;
    let text = line;
    while (text.endsWith('\\') && i + 1 < block.lines.length) text += `\n${block.lines[++i]!}`;
    out.push({ text });
  }
  return out;
}

const matcher = (expected: string): RegExp => new RegExp(`^${expected.split('...').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[\\s\\S]*?')}$`);

const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const blocks = shellBlocks(readme);
let group: number | undefined;

afterAll(() => {
  // The `npm start &` of the README and everything under it.
  if (group) {
    try {
      process.kill(-group, 'SIGTERM');
    } catch {
      // already gone
    }
  }
});

describe('README examples', () => {
  it('every shell block is run here or skipped for a stated reason', () => {
    const unknown = blocks.filter((b) => !RUN.includes(b.section) && !(b.section in SKIPPED)).map((b) => b.section);
    expect(unknown).toEqual([]);
    for (const s of RUN) expect(blocks.some((b) => b.section === s), `a block under "${s}"`).toBe(true);
  });

  it('"Try it" and "Client and CLI" run as shown, in order, on one server', async () => {
    const port = await freePort();
    const data = tempDir('samsa-readme-');
    const outDir = path.join(data, 'out');
    fs.mkdirSync(outDir);
    const cmds = blocks.filter((b) => RUN.includes(b.section)).flatMap(commands);
    expect(cmds.length).toBeGreaterThan(10);
    // One bash script, so `export` and `&` behave as in a terminal; each command's stdout and
    // exit code go to files of their own.
    const script = ['set -o pipefail', ...cmds.map((c, n) => `{ ${c.text.replaceAll('localhost:8080', `localhost:${port}`)}\n} > "${outDir}/${n}.out"; echo $? > "${outDir}/${n}.rc"`)].join('\n');
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(npm_|SAMSA_|NODE_OPTIONS$|INIT_CWD$)/i.test(k)) env[k] = v;
    const child = spawn('bash', ['-c', script], {
      cwd: REPO_ROOT,
      env: { ...env, PORT: String(port), SAMSA_DATA_DIR: path.join(data, 'data'), SAMSA_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: the background server goes with it in afterAll
    });
    group = child.pid;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', () => {});
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
      // 'exit', not 'close': the background server keeps the inherited stderr open.
      child.on('exit', (c) => (clearTimeout(timer), resolve(c)));
    });
    expect(code, stderr).toBe(0);
    cmds.forEach((c, n) => {
      const rc = fs.readFileSync(path.join(outDir, `${n}.rc`), 'utf8').trim();
      const stdout = fs.readFileSync(path.join(outDir, `${n}.out`), 'utf8').trim();
      if (c.text.trimEnd().replace(/\s+#.*$/, '').endsWith('&')) return; // the server: still running
      expect(rc, `exit code of: ${c.text}\n${stderr.slice(-3000)}`).toBe('0');
      if (c.expected !== undefined) expect(stdout, `output of: ${c.text}`).toMatch(matcher(c.expected));
    });
  }, 180_000);
});
