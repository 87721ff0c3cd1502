#!/usr/bin/env node
// `samsa`: the command-line tool, Kafka's kafka-topics / console-producer / console-consumer /
// consumer-groups in one command, built on the client (lib/client). Data goes to stdout (one
// value per line), everything else to stderr; exit codes tell refused, usage and unreachable apart.
import readline from 'node:readline';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { type Admin, AUTH_MODES, type AuthConfig, type AuthMode, type ConsumedMessage, fetchPartition, lookupOffset, Samsa, SamsaClientError, SamsaConnectionError } from '../lib/client';

const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;
const DEFAULT_URL = 'http://localhost:8080';

class UsageError extends Error {}

// --- helpers ----------------------------------------------------------------------------------

const int = (name: string, min = 0) => (v: string): number => {
  if (!/^-?\d+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
  return Number(v);
};
const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function parseConfig(entries: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i <= 0) throw new UsageError(`--config takes key=value, got "${e}"`);
    out[e.slice(0, i).trim()] = e.slice(i + 1).trim();
  }
  return out;
}

function table(rows: Array<Array<string | number>>): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => String(r[c] ?? '').length)));
  return rows.map((r) => r.map((v, c) => (c === r.length - 1 ? String(v) : String(v).padEnd(widths[c]! + 2))).join('').trimEnd()).join('\n') + '\n';
}

const out = (s: string): boolean => process.stdout.write(s);
const info = (s: string): void => void process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

function drainStdout(): Promise<void> {
  return new Promise((resolve) => (process.stdout.writableLength === 0 ? resolve() : process.stdout.write('', () => resolve())));
}

type ValueFormat = 'string' | 'json' | 'base64';
const VALUE_FORMATS: ValueFormat[] = ['string', 'json', 'base64'];

function encodeValue(line: string, format: ValueFormat, lineNo: number): Buffer {
  if (format === 'string') return Buffer.from(line, 'utf8');
  if (format === 'json') {
    try {
      return Buffer.from(JSON.stringify(JSON.parse(line)), 'utf8');
    } catch {
      throw new SamsaClientError('INVALID_REQUEST', `line ${lineNo} is not valid JSON (--value-format json)`);
    }
  }
  const t = line.trim();
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(t)) throw new SamsaClientError('INVALID_REQUEST', `line ${lineNo} is not valid base64 (--value-format base64)`);
  return Buffer.from(t, 'base64');
}

function renderBytes(b: Buffer | null, format: ValueFormat | 'hex'): string {
  if (b === null) return 'null';
  if (format === 'base64') return b.toString('base64');
  if (format === 'hex') return b.toString('hex');
  const s = b.toString('utf8');
  if (format === 'json') {
    try {
      return JSON.stringify(JSON.parse(s));
    } catch {
      return JSON.stringify(s);
    }
  }
  return s;
}

interface PrintOptions {
  valueFormat: ValueFormat | 'hex';
  format: 'value' | 'json';
  printKey?: boolean;
  printOffset?: boolean;
  keySeparator: string;
}

function formatMessage(topic: string, partition: number, m: ConsumedMessage, o: PrintOptions): string {
  if (o.format === 'json') {
    const headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, v === null ? null : v.toString('utf8')]));
    return `${JSON.stringify({ topic, partition, offset: m.offset, timestamp: m.timestamp, key: m.key === null ? null : renderBytes(m.key, 'string'), value: m.value === null ? null : renderBytes(m.value, o.valueFormat), headers })}\n`;
  }
  let line = '';
  if (o.printOffset) line += `${partition}:${m.offset}${o.keySeparator}`;
  if (o.printKey) line += `${m.key === null ? 'null' : m.key.toString('utf8')}${o.keySeparator}`;
  return `${line}${renderBytes(m.value, o.valueFormat)}\n`;
}

// --- program ------------------------------------------------------------------------------------

const program = new Command('samsa');
program
  .description('Samsa command-line tool: topics, produce, consume and consumer groups against a Samsa server.')
  .option('--url <url>', `server URL (default: $SAMSA_URL, else ${DEFAULT_URL})`)
  .addOption(new Option('--auth <mode>', 'authentication: none, sigv4 (IAM Function URL) or bearer (JWT / API key) (default: $SAMSA_AUTH_MODE, else bearer when a token is set, else none)').choices(AUTH_MODES))
  .option('--region <region>', 'SigV4 region (default: $AWS_REGION, else the region in the Function URL host)')
  .option('--token <token>', 'bearer token (prefer $SAMSA_TOKEN: arguments show in the process list)')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(`samsa: ${str.replace(/^error: /, '')}`) })
  .addHelpText(
    'after',
    `
Environment:
  SAMSA_URL         server URL, when --url is not given
  SAMSA_AUTH_MODE   none | sigv4 | bearer, when --auth is not given
  SAMSA_TOKEN       bearer token, when --token is not given
  AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, ...
                    SigV4 region and credentials (the AWS SDK's chain: env, profile, SSO, IMDS)

Exit codes:
  0  success
  1  the server refused the request (unknown topic or group, topic exists, bad config, ...)
  2  usage error (unknown command or option, missing argument)
  3  the server could not be reached

Examples:
  samsa topics create orders --partitions 6 --config retention.ms=86400000
  printf 'k1:v1\\nk2:v2\\n' | samsa produce orders --key-separator :
  samsa consume orders --from-beginning --max-messages 10
  samsa consume orders --group billing --timeout-ms 5000
  samsa groups describe billing
  samsa groups reset-offsets billing --topic orders --to-earliest
  samsa --url https://<id>.lambda-url.eu-west-1.on.aws --auth sigv4 topics list`,
  );

/** The --auth / --region / --token choice (or their environment variables) as the client's AuthConfig. */
function authFromOptions(): AuthConfig {
  const o = program.opts<{ auth?: AuthMode; region?: string; token?: string }>();
  const token = o.token ?? process.env.SAMSA_TOKEN;
  const envMode = process.env.SAMSA_AUTH_MODE?.trim().toLowerCase() || undefined;
  if (o.auth === undefined && envMode !== undefined && !(AUTH_MODES as readonly string[]).includes(envMode)) {
    throw new UsageError(`SAMSA_AUTH_MODE must be one of ${AUTH_MODES.join(', ')} (got "${process.env.SAMSA_AUTH_MODE}")`);
  }
  const mode = o.auth ?? (envMode as AuthMode | undefined) ?? (token ? 'bearer' : 'none');
  if (o.region !== undefined && mode !== 'sigv4') throw new UsageError(`--region is for --auth sigv4 (the auth mode is ${mode})`);
  if (mode === 'bearer') {
    if (!token) throw new UsageError('--auth bearer needs a token: --token <token> or SAMSA_TOKEN');
    return { mode, token };
  }
  if (mode === 'sigv4') return { mode, ...(o.region ? { region: o.region } : {}) };
  return { mode: 'none' };
}

function connect(): Samsa {
  const url = program.opts<{ url?: string }>().url ?? process.env.SAMSA_URL ?? DEFAULT_URL;
  try {
    // The CLI should fail fast on an unreachable server: two quick retries.
    return new Samsa({ url, auth: authFromOptions(), retry: { retries: 2, initialRetryTime: 100 } });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
const admin = (): Admin => connect().admin();

// --- topics -------------------------------------------------------------------------------------

const topics = program.command('topics').description('create, list, describe, alter and delete topics');

topics
  .command('create')
  .description('create a topic')
  .argument('<topic>')
  .option('-p, --partitions <n>', 'number of partitions', int('--partitions', 1), 1)
  .option('-c, --config <key=value>', 'topic config (repeatable), e.g. retention.ms=86400000', collect)
  .action(async (topic: string, o: { partitions: number; config?: string[] }) => {
    const t = await admin().createTopic({ topic, numPartitions: o.partitions, config: parseConfig(o.config) });
    out(`Created topic "${t.name}" with ${t.partitions} partition${t.partitions === 1 ? '' : 's'}.\n`);
  });

topics
  .command('list')
  .description('list topics (names, one per line; --long adds partition counts)')
  .option('-l, --long', 'show partition counts')
  .action(async (o: { long?: boolean }) => {
    const ts = await admin().listTopicsWithPartitions();
    if (o.long) out(table([['TOPIC', 'PARTITIONS'], ...ts.map((t) => [t.name, t.partitions])]));
    else out(ts.map((t) => `${t.name}\n`).join(''));
  });

topics
  .command('describe')
  .description('show a topic: config and partitions with offsets')
  .argument('<topic>')
  .action(async (topic: string) => {
    const d = await admin().describeTopic(topic);
    const config = Object.entries(d.config)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    out(`Topic: ${d.name}\tPartitions: ${d.partitions.length}\tConfigs: ${config}\n`);
    out(table([['PARTITION', 'LOG-START-OFFSET', 'HIGH-WATERMARK', 'LEADER-EPOCH'], ...d.partitions.map((p) => [p.partition, p.logStartOffset, p.highWatermark, p.leaderEpoch])]));
  });

topics
  .command('alter')
  .description('grow partitions and/or change config')
  .argument('<topic>')
  .option('-p, --partitions <n>', 'new partition count (can only grow)', int('--partitions', 1))
  .option('-c, --config <key=value>', 'topic config to set (repeatable)', collect)
  .action(async (topic: string, o: { partitions?: number; config?: string[] }) => {
    if (o.partitions === undefined && !o.config) throw new UsageError('topics alter: give --partitions and/or --config');
    const config = parseConfig(o.config);
    await admin().alterTopic(topic, { ...(o.partitions !== undefined ? { partitions: o.partitions } : {}), ...(o.config ? { config } : {}) });
    out(`Altered topic "${topic}".\n`);
  });

topics
  .command('delete')
  .description('delete a topic and its data')
  .argument('<topic>')
  .action(async (topic: string) => {
    await admin().deleteTopic(topic);
    out(`Deleted topic "${topic}".\n`);
  });

// --- produce ------------------------------------------------------------------------------------

program
  .command('produce')
  .description('produce stdin lines as records (one record per line; empty lines are skipped)')
  .argument('<topic>')
  .option('-k, --key-separator <sep>', 'split each line at the first <sep> into key and value')
  .addOption(new Option('--value-format <format>', 'how a line (or its value part) becomes bytes').choices(VALUE_FORMATS).default('string'))
  .option('--partition <p>', 'send every record to this partition (default: by key, else sticky)', int('--partition'))
  .addOption(new Option('--compression <codec>', 'batch compression').choices(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('none'))
  .option('--linger-ms <ms>', 'batching delay', int('--linger-ms'), 5)
  .option('--batch-size <bytes>', 'batch size', int('--batch-size', 1), 1024 * 1024)
  .action(async (topic: string, o: { keySeparator?: string; valueFormat: ValueFormat; partition?: number; compression: 'none'; lingerMs: number; batchSize: number }) => {
    if (o.keySeparator === '') throw new UsageError('--key-separator must not be empty');
    const producer = connect().producer({ lingerMs: o.lingerMs, batchSize: o.batchSize, compression: o.compression });
    const partitions = await producer.partitionCount(topic); // unknown topic: fail before reading stdin
    if (o.partition !== undefined && o.partition >= partitions) throw new SamsaClientError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${topic}" has no partition ${o.partition} (it has ${partitions})`);
    const started = Date.now();
    const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'producing {bar} {value}/{total} records', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
    bar?.start(0, 0);
    let read = 0;
    let acked = 0;
    let failed = 0;
    let firstError: unknown;
    const inflight = new Set<Promise<void>>();
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    let lineNo = 0;
    for await (const line of rl) {
      lineNo++;
      if (line === '') continue;
      let key: string | null = null;
      let value = line;
      if (o.keySeparator !== undefined) {
        const i = line.indexOf(o.keySeparator);
        if (i < 0) throw new SamsaClientError('INVALID_REQUEST', `line ${lineNo} has no key separator "${o.keySeparator}"`);
        key = line.slice(0, i);
        value = line.slice(i + o.keySeparator.length);
      }
      const message = { key, value: encodeValue(value, o.valueFormat, lineNo), ...(o.partition !== undefined ? { partition: o.partition } : {}) };
      read++;
      bar?.setTotal(read);
      const p: Promise<void> = producer.send({ topic, messages: [message] }).then(
        () => {
          acked++;
          bar?.update(acked);
        },
        (err: unknown) => {
          failed++;
          firstError ??= err;
        },
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      // Backpressure: stdin may be far larger than memory.
      if (inflight.size >= 20_000) await Promise.race(inflight);
      if (firstError) break;
    }
    await producer.disconnect();
    await Promise.all(inflight);
    bar?.stop();
    const secs = (Date.now() - started) / 1000;
    if (firstError) {
      info(`samsa: ${failed} of ${read} records failed; ${acked} stored`);
      throw firstError;
    }
    info(`Produced ${acked} record${acked === 1 ? '' : 's'} to "${topic}" in ${secs.toFixed(2)} s${secs > 0 ? ` (${Math.round(acked / secs)} records/s)` : ''}.`);
  });

// --- consume ------------------------------------------------------------------------------------

interface ConsumeOpts {
  fromBeginning?: boolean;
  fromLatest?: boolean;
  group?: string;
  partition?: number;
  offset?: string;
  maxMessages?: number;
  timeoutMs?: number;
  valueFormat: ValueFormat | 'hex';
  format: 'value' | 'json';
  printKey?: boolean;
  printOffset?: boolean;
  keySeparator: string;
}

program
  .command('consume')
  .description('print records of a topic to stdout, one value per line')
  .argument('<topic>')
  .option('--from-beginning', 'start at the earliest offset (default without --group: the end, as Kafka)')
  .option('--from-latest', 'with --group: start partitions without a committed offset at the end (default: earliest)')
  .option('-g, --group <group>', 'consume as a member of this consumer group, committing offsets')
  .option('--partition <p>', 'read only this partition', int('--partition'))
  .option('--offset <offset>', 'with --partition: start at this offset, "earliest" or "latest"')
  .option('-n, --max-messages <n>', 'exit after this many records', int('--max-messages', 1))
  .option('--timeout-ms <ms>', 'exit when no record arrives for this long', int('--timeout-ms', 1))
  .addOption(new Option('--value-format <format>', 'how values are printed').choices(['string', 'json', 'base64', 'hex']).default('string'))
  .addOption(new Option('--format <format>', '"value": the value alone; "json": one JSON object per record').choices(['value', 'json']).default('value'))
  .option('--print-key', 'print the key before the value')
  .option('--print-offset', 'print partition:offset before the value')
  .option('--key-separator <sep>', 'separator after the printed key/offset', '\t')
  .action(async (topic: string, o: ConsumeOpts) => {
    if (o.offset !== undefined && o.partition === undefined) throw new UsageError('--offset needs --partition');
    if (o.offset !== undefined && !/^(\d+|earliest|latest)$/.test(o.offset)) throw new UsageError('--offset must be an offset, "earliest" or "latest"');
    if (o.group && (o.partition !== undefined || o.offset !== undefined)) throw new UsageError('--group cannot be combined with --partition/--offset (the group assigns partitions)');
    if (o.fromBeginning && o.fromLatest) throw new UsageError('--from-beginning and --from-latest exclude each other');
    let count = 0;
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(EXIT.ok);
    });
    const samsa = connect();
    await samsa.admin().describeTopic(topic); // unknown topic: a clear error before anything else
    const done = o.group ? await consumeGroup(samsa, topic, o, (n) => (count = n)) : await consumePartitions(samsa, topic, o, (n) => (count = n));
    await drainStdout();
    info(`Processed a total of ${count} messages${done === 'timeout' ? ` (no message for ${o.timeoutMs} ms)` : ''}`);
  });

type EndReason = 'max' | 'timeout' | 'signal';

function stopSignals(): { stopped: Promise<EndReason>; dispose: () => void } {
  let resolve!: (r: EndReason) => void;
  const stopped = new Promise<EndReason>((r) => (resolve = r));
  const on = () => resolve('signal');
  process.once('SIGINT', on);
  process.once('SIGTERM', on);
  return { stopped, dispose: () => (process.off('SIGINT', on), process.off('SIGTERM', on)) };
}

async function consumePartitions(samsa: Samsa, topic: string, o: ConsumeOpts, progress: (n: number) => void): Promise<EndReason> {
  const d = await samsa.admin().describeTopic(topic);
  const parts = o.partition !== undefined ? [o.partition] : d.partitions.map((p) => p.partition);
  if (o.partition !== undefined && o.partition >= d.partitions.length) throw new SamsaClientError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${topic}" has no partition ${o.partition} (it has ${d.partitions.length})`);
  const positions = new Map<number, number>();
  for (const p of parts) {
    const at = o.offset ?? (o.fromBeginning ? 'earliest' : 'latest');
    positions.set(p, /^\d+$/.test(at) ? Number(at) : await lookupOffset(samsa.http, topic, p, at as 'earliest' | 'latest'));
  }
  const { stopped, dispose } = stopSignals();
  let stop: EndReason | undefined;
  void stopped.then((r) => (stop = r));
  const abort = new AbortController();
  void stopped.then(() => abort.abort());
  let count = 0;
  let lastAt = Date.now();
  try {
    while (!stop) {
      const idleLeft = o.timeoutMs !== undefined ? o.timeoutMs - (Date.now() - lastAt) : Infinity;
      if (idleLeft <= 0) return 'timeout';
      const results = await Promise.all(
        parts.map(async (p) => {
          try {
            return { p, r: await fetchPartition(samsa.http, topic, p, positions.get(p)!, { waitMs: 0, signal: abort.signal }) };
          } catch (err) {
            if ((err as Error).name === 'AbortError') return undefined;
            throw err;
          }
        }),
      );
      let got = 0;
      for (const x of results) {
        if (!x) continue;
        let chunk = '';
        for (const m of x.r.messages) {
          if (o.maxMessages !== undefined && count >= o.maxMessages) break;
          chunk += formatMessage(topic, x.p, m, o);
          count++;
          got++;
        }
        positions.set(x.p, x.r.nextOffset);
        if (chunk && !out(chunk)) await new Promise((r) => process.stdout.once('drain', r));
        progress(count);
        if (o.maxMessages !== undefined && count >= o.maxMessages) return 'max';
      }
      if (got > 0) lastAt = Date.now();
      else if (!stop) {
        // Caught up everywhere: long-poll one partition (round robin) for a bounded while.
        await new Promise((r) => setTimeout(r, Math.min(100, Math.max(0, idleLeft))));
      }
    }
    return stop;
  } finally {
    dispose();
  }
}

async function consumeGroup(samsa: Samsa, topic: string, o: ConsumeOpts, progress: (n: number) => void): Promise<EndReason> {
  const consumer = samsa.consumer({ groupId: o.group!, maxWaitTimeInMs: 500 });
  let fatal: unknown;
  consumer.on('crash', (e: { error: unknown }) => (fatal = e.error));
  await consumer.subscribe({ topic, fromBeginning: !o.fromLatest });
  const { stopped, dispose } = stopSignals();
  let finish!: (r: EndReason) => void;
  const finished = new Promise<EndReason>((r) => (finish = r));
  let count = 0;
  let lastAt = Date.now();
  let full = false;
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, isStale }) => {
      let chunk = '';
      for (const m of batch.messages) {
        if (full || isStale()) break;
        chunk += formatMessage(batch.topic, batch.partition, m, o);
        resolveOffset(m.offset);
        count++;
        if (o.maxMessages !== undefined && count >= o.maxMessages) {
          full = true;
          finish('max');
        }
      }
      if (chunk) {
        lastAt = Date.now();
        if (!out(chunk)) await new Promise((r) => process.stdout.once('drain', r));
      }
      progress(count);
      if (full) consumer.pause([{ topic }]);
    },
  });
  const idle = setInterval(() => {
    if (fatal) finish('signal');
    else if (o.timeoutMs !== undefined && Date.now() - lastAt >= o.timeoutMs) finish('timeout');
  }, 50);
  try {
    const reason = await Promise.race([finished, stopped]);
    await consumer.disconnect(); // commits what was printed, then leaves the group
    if (fatal) throw fatal;
    return reason;
  } finally {
    clearInterval(idle);
    dispose();
  }
}

// --- groups -------------------------------------------------------------------------------------

const groups = program.command('groups').description('list, describe, reset offsets of and delete consumer groups');

groups
  .command('list')
  .description('list consumer groups')
  .action(async () => {
    const gs = await admin().listGroups();
    out(table([['GROUP', 'STATE', 'GENERATION', 'MEMBERS'], ...gs.map((g) => [g.group, g.state, g.generation, g.members])]));
  });

groups
  .command('describe')
  .description('show a group: members, committed offsets and lag per partition')
  .argument('<group>')
  .action(async (group: string) => {
    const a = admin();
    const [d, offsets] = await Promise.all([a.describeGroup(group), a.fetchOffsets({ groupId: group })]);
    const owner = new Map<string, string>();
    for (const m of d.members) for (const tp of m.assignment) owner.set(`${tp.topic}/${tp.partition}`, m.memberId);
    out(`Group "${d.group}": ${d.state}, generation ${d.generation}, ${d.members.length} member${d.members.length === 1 ? '' : 's'}, total lag ${d.lag}\n\n`);
    out(
      table([
        ['TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID'],
        ...offsets.map((x) => [x.topic, x.partition, x.offset < 0 ? '-' : x.offset, x.highWatermark, x.lag, owner.get(`${x.topic}/${x.partition}`) ?? '-']),
      ]),
    );
  });

groups
  .command('reset-offsets')
  .description("move a topic's committed offsets (only while the group has no members)")
  .argument('<group>')
  .requiredOption('-t, --topic <topic>', 'topic whose offsets to reset')
  .option('--to-earliest', 'to the log start')
  .option('--to-latest', 'to the end (skip everything)')
  .option('--to-datetime <when>', 'to the first record at or after this time (ISO 8601, or ms since epoch)')
  .option('--to-offset <offset>', 'to this offset (clamped into each partition’s range)', int('--to-offset'))
  .option('--execute', 'accepted for kafka-consumer-groups familiarity (the reset always executes)')
  .action(async (group: string, o: { topic: string; toEarliest?: boolean; toLatest?: boolean; toDatetime?: string; toOffset?: number }) => {
    const chosen = [o.toEarliest, o.toLatest, o.toDatetime !== undefined, o.toOffset !== undefined].filter(Boolean).length;
    if (chosen !== 1) throw new UsageError('reset-offsets: give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset');
    let to: 'earliest' | 'latest' | { timestamp: number } | { offset: number };
    if (o.toEarliest) to = 'earliest';
    else if (o.toLatest) to = 'latest';
    else if (o.toOffset !== undefined) to = { offset: o.toOffset };
    else {
      const ms = /^\d+$/.test(o.toDatetime!) ? Number(o.toDatetime) : Date.parse(o.toDatetime!);
      if (!Number.isFinite(ms) || ms < 0) throw new UsageError(`--to-datetime: cannot read "${o.toDatetime}" as a date (use ISO 8601, e.g. 2024-05-01T12:00:00Z)`);
      to = { timestamp: ms };
    }
    const r = await admin().resetOffsets({ groupId: group, topic: o.topic, to });
    out(table([['TOPIC', 'PARTITION', 'NEW-OFFSET'], ...r.map((x) => [x.topic, x.partition, x.offset])]));
  });

groups
  .command('delete')
  .description('delete a group and its committed offsets (only when it has no members)')
  .argument('<group>')
  .action(async (group: string) => {
    await admin().deleteGroup(group);
    out(`Deleted group "${group}".\n`);
  });

// --- run ----------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      return EXIT.usage; // commander already printed the message
    }
    if (err instanceof UsageError) {
      info(`samsa: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof SamsaConnectionError) {
      info(`samsa: ${err.message}`);
      return EXIT.unreachable;
    }
    if (err instanceof SamsaClientError) {
      // A bare 403 (not Samsa's own Kafka-style body) is AWS refusing an unsigned request.
      const hint = err.code === 'HTTP_403' && !program.opts<{ auth?: string }>().auth && !process.env.SAMSA_AUTH_MODE ? ' (a Function URL with IAM auth needs --auth sigv4)' : '';
      info(`samsa: ${err.message}${err.code.startsWith('HTTP_') || err.message.includes(err.code) ? '' : ` (${err.code})`}${hint}`);
      return EXIT.refused;
    }
    info(`samsa: ${(err as Error)?.message ?? String(err)}`);
    return EXIT.refused;
  }
}

const code = await main(process.argv);
await drainStdout();
process.exit(code);
