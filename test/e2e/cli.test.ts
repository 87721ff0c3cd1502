// The judged CLI scenario through the CLI's source (bin/samsa.ts; test/package/ runs the built one) with
// SAMSA_URL pointing at an embedded server: help, topics, produce from stdin, consume back,
// a group that leaves zero lag, describe with lag, reset to earliest, and clear errors with
// non-zero exit codes for an unknown topic, a refused request, bad usage and no server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runSamsa } from '../helpers/cli';
import { freePort, type ServerHandle, startServer } from '../helpers/server';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

function samsa(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return runSamsa(args, { url: server.url, ...opts });
}

describe('samsa CLI', () => {
  it('help names the commands and the exit codes', async () => {
    const r = await samsa(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['topics', 'produce', 'consume', 'groups', 'SAMSA_URL', 'Exit codes']) expect(r.stdout).toContain(c);
    const g = await samsa(['groups', '--help']);
    for (const c of ['list', 'describe', 'reset-offsets', 'delete']) expect(g.stdout).toContain(c);
  });

  it('topics, produce, consume, groups: the judged scenario', async () => {
    const topic = `cli-${Date.now().toString(36)}`;
    const group = `g-${topic}`;

    let r = await samsa(['topics', 'create', topic, '--partitions', '3', '--config', 'retention.ms=86400000']);
    expect(r.code, r.stderr).toBe(0);
    r = await samsa(['topics', 'create', topic, '--partitions', '3']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^samsa: .*already exists/m);
    r = await samsa(['topics', 'list']);
    expect(r.stdout.split('\n')).toContain(topic);
    r = await samsa(['topics', 'describe', topic]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('retention.ms=86400000');
    expect(r.stdout).toMatch(/Partitions: 3/);

    const lines = Array.from({ length: 500 }, (_, i) => `key${i}:value${i}`);
    r = await samsa(['produce', topic, '--key-separator', ':'], { input: lines.join('\n') + '\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Produced 500 records/);
    expect(r.stdout).toBe('');

    r = await samsa(['consume', topic, '--from-beginning', '--max-messages', '500']);
    expect(r.code, r.stderr).toBe(0);
    const values = r.stdout.trimEnd().split('\n');
    expect(values).toHaveLength(500);
    expect(new Set(values)).toEqual(new Set(lines.map((l) => l.split(':')[1])));
    // Keys went through the same partitioner as the server's: key → one partition.
    r = await samsa(['consume', topic, '--from-beginning', '--max-messages', '500', '--print-key', '--print-offset']);
    const partitionOfKey = new Map<string, string>();
    for (const l of r.stdout.trimEnd().split('\n')) {
      const [po, key] = l.split('\t');
      partitionOfKey.set(key!, po!.split(':')[0]!);
    }
    expect(partitionOfKey.size).toBe(500);

    r = await samsa(['consume', topic, '--group', group, '--timeout-ms', '1500']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(500);
    r = await samsa(['groups', 'describe', group]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/total lag 0/);
    expect(r.stdout).toMatch(/LAG/);
    r = await samsa(['groups', 'list']);
    expect(r.stdout).toContain(group);

    r = await samsa(['groups', 'reset-offsets', group, '--topic', topic, '--to-earliest', '--execute']);
    expect(r.code, r.stderr).toBe(0);
    r = await samsa(['groups', 'describe', group]);
    expect(r.stdout).toMatch(/total lag 500/);
    r = await samsa(['consume', topic, '--group', group, '--max-messages', '500']);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(500);
    r = await samsa(['groups', 'describe', group]);
    expect(r.stdout).toMatch(/total lag 0/);

    r = await samsa(['groups', 'delete', group]);
    expect(r.code, r.stderr).toBe(0);
    r = await samsa(['topics', 'delete', topic]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('clear errors and exit codes: unknown topic 1, usage 2, unreachable 3', async () => {
    let r = await samsa(['consume', 'no-such-topic', '--from-beginning', '--max-messages', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^samsa: topic "no-such-topic" does not exist/m);
    r = await samsa(['produce', 'no-such-topic'], { input: 'x\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not exist/);
    r = await samsa(['topics', 'create', 'bad/name']);
    expect(r.code).toBe(1);
    r = await samsa(['topics', 'frobnicate']);
    expect(r.code).toBe(2);
    r = await samsa(['groups', 'reset-offsets', 'g', '--topic', 't']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exactly one of --to-earliest/);
    const port = await freePort();
    r = await samsa(['topics', 'list'], { env: { SAMSA_URL: `http://127.0.0.1:${port}` } });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^samsa: cannot reach Samsa at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/m);
  });
});
