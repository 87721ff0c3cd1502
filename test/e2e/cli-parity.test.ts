// The CLI as Kafka users type their tools (kafka-console-producer/-consumer, kafka-get-offsets,
// kafka-consumer-groups, kafka-topics, kcat): headers and timestamps on produce, files as
// values, kcat format strings, the last N records, exit at end, offsets by time, reset-offsets
// that only shows its plan until --execute, group member and state views, idempotent topic
// creation and config deletion, JSON output. Against a real embedded server.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runSamsa } from '../helpers/cli';
import { type ServerHandle, startServer, tempDir } from '../helpers/server';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

function samsa(args: string[], input = ''): Promise<CliRun> {
  return runSamsa(args, { url: server.url, input });
}

const ok = (r: CliRun): CliRun => {
  expect(r.code, r.stderr).toBe(0);
  return r;
};
const unique = (p: string) => `${p}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const MAY_1 = Date.parse('2024-05-01T12:00:00Z');

describe('samsa topics, as kafka-topics', () => {
  it('--if-not-exists, --delete-config, --output json', async () => {
    const t = unique('tp');
    ok(await samsa(['topics', 'create', t, '--partitions', '2', '--if-not-exists']));
    const again = ok(await samsa(['topics', 'create', t, '--partitions', '2', '--if-not-exists']));
    expect(again.stderr).toMatch(/already exists \(--if-not-exists\)/);
    expect((await samsa(['topics', 'create', t])).code).toBe(1);

    ok(await samsa(['topics', 'alter', t, '--config', 'retention.ms=1000', '--config', 'max.message.bytes=2000']));
    let d = JSON.parse(ok(await samsa(['topics', 'describe', t, '--output', 'json'])).stdout);
    expect(d.config['retention.ms']).toBe(1000);
    ok(await samsa(['topics', 'alter', t, '--delete-config', 'retention.ms']));
    d = JSON.parse(ok(await samsa(['topics', 'describe', t, '-o', 'json'])).stdout);
    expect(d).toMatchObject({ name: t, config: { 'retention.ms': 604800000, 'max.message.bytes': 2000 } });
    expect(d.partitions).toHaveLength(2);
    const bad = await samsa(['topics', 'alter', t, '--delete-config', 'retention.millis']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^samsa: --delete-config: unknown config key "retention.millis"/m);

    const list = JSON.parse(ok(await samsa(['topics', 'list', '--output', 'json'])).stdout);
    expect(list).toContainEqual({ name: t, partitions: 2 });
  });
});

describe('samsa produce / consume, as the console tools and kcat', () => {
  let topic: string;
  beforeAll(async () => {
    topic = unique('pc');
    ok(await samsa(['topics', 'create', topic, '--partitions', '2']));
  });

  it('headers (flags and parse.headers lines), explicit timestamps, partitions, files as values', async () => {
    // kafka-console-producer's line format: headers<TAB>key:value
    let r = ok(
      await samsa(['produce', topic, '--parse-headers', '--key-separator', ':', '--partition', '0', '--timestamp', '2024-05-01T12:00:00Z', '-H', 'source=cli'], 'trace:t1,lang:en\tk1:hello\n\tk2:plain\n'),
    );
    expect(r.stderr).toMatch(/Produced 2 records/);
    // The same through kafka-console-producer's --property names.
    ok(await samsa(['produce', topic, '--property', 'parse.key=true', '--property', 'key.separator=|', '--property', 'parse.headers=true', '--partition', '1', '--timestamp', String(MAY_1 + 1000)], 'h:1\tk3|v3\n'));
    const file = path.join(tempDir('samsa-cli-'), 'blob.bin');
    const bytes = Buffer.from([0, 1, 2, 255, 10, 13]);
    fs.writeFileSync(file, bytes);
    ok(await samsa(['produce', topic, '--file', file, '--key', 'blob', '--partition', '1', '--timestamp', String(MAY_1 + 2000)]));

    // kcat -f with every field.
    r = ok(await samsa(['consume', topic, '--from-beginning', '-e', '--partition', '0', '--format', '%t|%p|%o|%k|%v|%T|%h|%K|%S\\n']));
    expect(r.stdout).toBe(`${topic}|0|0|k1|hello|${MAY_1}|trace=t1,lang=en,source=cli|2|5\n${topic}|0|1|k2|plain|${MAY_1}|source=cli|2|5\n`);
    expect(r.stderr).toMatch(/Processed a total of 2 messages \(reached the end of every partition\)/);
    // kafka-console-consumer's print.timestamp / print.headers / print.key.
    r = ok(await samsa(['consume', topic, '--offset', 'earliest', '--partition', '1', '--exit-at-end', '--print-timestamp', '--print-headers', '--print-key', '--value-format', 'base64']));
    expect(r.stdout.split('\n')).toEqual([`CreateTime:${MAY_1 + 1000}\th:1\tk3\t${Buffer.from('v3').toString('base64')}`, `CreateTime:${MAY_1 + 2000}\tNO_HEADERS\tblob\t${bytes.toString('base64')}`, '']);
    r = ok(await samsa(['consume', topic, '--from-beginning', '-e', '--format', 'json']));
    const records = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(records).toHaveLength(4);
    expect(records).toContainEqual({ topic, partition: 0, offset: 0, timestamp: MAY_1, key: 'k1', value: 'hello', headers: { trace: 't1', lang: 'en', source: 'cli' } });
  });

  it('--offset -N (the last N of each partition), --from-time, -e on an empty end', async () => {
    const t = unique('last');
    ok(await samsa(['topics', 'create', t, '--partitions', '2']));
    const lines = Array.from({ length: 10 }, (_, i) => `${i % 2}:v${i}`);
    ok(await samsa(['produce', t, '--key-separator', ':', '--timestamp', String(MAY_1)], lines.slice(0, 6).join('\n') + '\n'));
    ok(await samsa(['produce', t, '--key-separator', ':', '--timestamp', String(MAY_1 + 60_000)], lines.slice(6).join('\n') + '\n'));
    const offsets = ok(await samsa(['offsets', t])).stdout;
    const total = offsets
      .trim()
      .split('\n')
      .reduce((n, l) => n + Number(l.split(':')[2]), 0);
    expect(total).toBe(10);
    expect(offsets).toMatch(new RegExp(`^${t}:0:\\d+\\n${t}:1:\\d+\\n$`));

    let r = ok(await samsa(['consume', t, '--offset', '-2', '-e']));
    expect(r.stdout.trim().split('\n')).toHaveLength(4); // the last 2 of each of 2 partitions
    r = ok(await samsa(['consume', t, '--partition', '0', '--offset', '-100', '-e']));
    expect(r.stdout.trim().split('\n').length).toBe(Number(/:0:(\d+)/.exec(offsets)![1]));
    r = ok(await samsa(['consume', t, '--from-time', new Date(MAY_1 + 30_000).toISOString(), '-e']));
    expect(r.stdout.trim().split('\n').sort()).toEqual(['v6', 'v7', 'v8', 'v9']);
    r = ok(await samsa(['consume', t, '-e'])); // default start is the end: nothing to print, and it exits
    expect(r.stdout).toBe('');
    expect((await samsa(['consume', t, '--offset', '-x'])).code).toBe(2);
    expect((await samsa(['consume', t, '--format', 'pretty'])).stderr).toMatch(/--format must be value, json, or a format string/);

    // kafka-get-offsets: earliest, latest, by time.
    expect(ok(await samsa(['offsets', t, '--time', 'earliest'])).stdout).toBe(`${t}:0:0\n${t}:1:0\n`);
    const byTime = ok(await samsa(['offsets', t, '--time', String(MAY_1 + 1)])).stdout;
    const latest = ok(await samsa(['offsets', t, '--time', '-1'])).stdout;
    const late = (s: string) => s.trim().split('\n').map((l) => Number(l.split(':')[2]));
    expect(late(latest).map((n, i) => n - late(byTime)[i]!)).toEqual([2, 2]);
    expect(JSON.parse(ok(await samsa(['offsets', t, '--partition', '1', '-o', 'json'])).stdout)).toEqual([{ topic: t, partition: 1, offset: late(latest)[1] }]);
    expect((await samsa(['offsets', t, '--time', 'yesterday'])).code).toBe(2);
  });
});

describe('samsa groups, as kafka-consumer-groups', () => {
  it('reset-offsets shows its plan and changes nothing without --execute; --shift-by, --by-duration, --all-topics; --members, --state', async () => {
    const t = unique('gr');
    const g = `g-${t}`;
    ok(await samsa(['topics', 'create', t, '--partitions', '2']));
    ok(await samsa(['produce', t, '--key-separator', ':'], Array.from({ length: 20 }, (_, i) => `k${i}:v${i}`).join('\n') + '\n'));
    ok(await samsa(['consume', t, '--group', g, '--max-messages', '20']));
    expect(ok(await samsa(['groups', 'describe', g])).stdout).toMatch(/total lag 0/);

    let r = ok(await samsa(['groups', 'reset-offsets', g, '--topic', t, '--to-earliest']));
    expect(r.stdout).toMatch(/GROUP\s+TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+NEW-OFFSET/);
    expect(r.stdout).toMatch(new RegExp(`${g}\\s+${t}\\s+0\\s+\\d+\\s+0\\n`));
    expect(r.stderr).toMatch(/plan only; nothing changed\. Add --execute/);
    expect(ok(await samsa(['groups', 'describe', g])).stdout).toMatch(/total lag 0/);

    r = ok(await samsa(['groups', 'reset-offsets', g, '--all-topics', '--shift-by', '-3', '--execute']));
    expect(r.stderr).not.toMatch(/plan only/);
    expect(ok(await samsa(['groups', 'describe', g])).stdout).toMatch(/total lag 6/);
    const plan = JSON.parse(ok(await samsa(['groups', 'reset-offsets', g, '--topic', t, '--by-duration', 'PT1H', '-o', 'json'])).stdout);
    expect(plan.map((p: { new_offset: number }) => p.new_offset)).toEqual([0, 0]); // everything was produced within the hour
    ok(await samsa(['groups', 'reset-offsets', g, '--topic', t, '--to-earliest', '--execute']));
    expect(ok(await samsa(['groups', 'describe', g])).stdout).toMatch(/total lag 20/);

    r = ok(await samsa(['groups', 'describe', g, '--state']));
    expect(r.stdout).toMatch(new RegExp(`GROUP\\s+STATE\\s+GENERATION\\s+ASSIGNMENT-STRATEGY\\s+#MEMBERS\\n${g}\\s+Empty\\s+\\d+\\s+sticky\\s+0\\n`));
    r = ok(await samsa(['groups', 'describe', g, '--members']));
    expect(r.stdout).toMatch(/^GROUP\s+CONSUMER-ID\s+TOPICS\s+#PARTITIONS\s+ASSIGNMENT\n$/);
    expect(JSON.parse(ok(await samsa(['groups', 'list', '-o', 'json'])).stdout)).toContainEqual(expect.objectContaining({ group: g, state: 'Empty' }));

    for (const [args, msg] of [
      [['--topic', t], /exactly one of --to-earliest/],
      [['--to-earliest'], /give --topic <topic> \(repeatable\) or --all-topics/],
      [['--topic', t, '--shift-by', 'x'], /--shift-by must be an integer/],
      [['--topic', t, '--by-duration', '1h'], /--by-duration: cannot read "1h"/],
    ] as const) {
      r = await samsa(['groups', 'reset-offsets', g, ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });
});
