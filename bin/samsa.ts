#!/usr/bin/env node
// `samsa`: the command-line tool, Kafka's kafka-topics / console-producer / console-consumer /
// consumer-groups in one command, built on the client (lib/client). Data goes to stdout (one
// value per line), everything else to stderr; exit codes tell refused, usage and unreachable apart.
import fs from 'node:fs';
import readline from 'node:readline';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { Declined, registerAccessCommands } from './samsa-acls';
import { DEFAULT_TOPIC_CONFIG } from '../lib/log/topic-config';
import { type Admin, AUTH_MODES, type AuthConfig, type AuthMode, type ConsumedMessage, lookupOffset, readPartition, type Message, type ResetTarget, Samsa, SamsaClientError, SamsaConnectionError } from '../lib/client';

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
  const pairs: Array<[string, string]> = [];
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i <= 0) throw new UsageError(`--config takes key=value, got "${e}"`);
    pairs.push([e.slice(0, i).trim(), e.slice(i + 1).trim()]);
  }
  // Own properties whatever the key: assigning "__proto__" would drop it instead of sending it
  // to the server, which refuses it as the unknown key it is.
  return Object.fromEntries(pairs);
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
  /** "value", "json", or a kcat-style format string (contains %). */
  format: string;
  printKey?: boolean;
  printOffset?: boolean;
  printHeaders?: boolean;
  printTimestamp?: boolean;
  keySeparator: string;
}

const headerText = (h: Record<string, Buffer | null>, sep = ',', kv = ':'): string =>
  Object.entries(h)
    .map(([k, v]) => `${k}${kv}${v === null ? 'null' : v.toString('utf8')}`)
    .join(sep);

/** kcat's -f: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp, %h headers, %K/%S key/value length, %%; \n \t \\ escapes. */
function kcatFormat(fmt: string, topic: string, partition: number, m: ConsumedMessage, valueFormat: ValueFormat | 'hex'): string {
  return fmt.replace(/%[tpokvThKS%]|\\[ntr\\]/g, (t) => {
    switch (t) {
      case '%t': return topic;
      case '%p': return String(partition);
      case '%o': return String(m.offset);
      case '%k': return m.key === null ? '' : m.key.toString('utf8');
      case '%v': return m.value === null ? '' : renderBytes(m.value, valueFormat);
      case '%T': return String(m.timestamp);
      case '%h': return headerText(m.headers, ',', '=');
      case '%K': return String(m.key === null ? -1 : m.key.length);
      case '%S': return String(m.value === null ? -1 : m.value.length);
      case '%%': return '%';
      case '\\n': return '\n';
      case '\\t': return '\t';
      case '\\r': return '\r';
      default: return '\\';
    }
  });
}

function formatMessage(topic: string, partition: number, m: ConsumedMessage, o: PrintOptions): string {
  if (o.format === 'json') {
    const headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, v === null ? null : v.toString('utf8')]));
    return `${JSON.stringify({ topic, partition, offset: m.offset, timestamp: m.timestamp, key: m.key === null ? null : renderBytes(m.key, 'string'), value: m.value === null ? null : renderBytes(m.value, o.valueFormat), headers })}\n`;
  }
  if (o.format !== 'value') return kcatFormat(o.format, topic, partition, m, o.valueFormat);
  // kafka-console-consumer's order: timestamp, partition:offset, headers, key, value.
  let line = '';
  if (o.printTimestamp) line += `CreateTime:${m.timestamp}${o.keySeparator}`;
  if (o.printOffset) line += `${partition}:${m.offset}${o.keySeparator}`;
  if (o.printHeaders) line += `${Object.keys(m.headers).length ? headerText(m.headers) : 'NO_HEADERS'}${o.keySeparator}`;
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
  .option('--request-timeout-ms <ms>', 'give up on one attempt of a request after this long (long polls add their wait; a live tail after this plus its keep-alive without a byte), then retry (default 30000)', int('--request-timeout-ms', 1))
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
  1  the server refused the request (unknown topic or group, topic exists, bad config, ...),
     or you answered no to a confirmation (acls remove)
  2  usage error (unknown command or option, missing argument)
  3  the server could not be reached

Examples:
  samsa topics create orders --partitions 6 --config retention.ms=86400000
  printf 'k1:v1\\nk2:v2\\n' | samsa produce orders --key-separator :
  printf 'trace:abc\\tk1:v1\\n' | samsa produce orders --parse-headers --key-separator :
  samsa produce orders --file invoice.pdf --key invoice-7 --header type=pdf
  samsa consume orders --from-beginning --max-messages 10
  samsa consume orders --offset -5 -e --format '%p/%o %k=%v %h\\n'
  samsa consume orders --from-time 2024-05-01T12:00:00Z --print-timestamp --print-key -e
  samsa consume orders --group billing --timeout-ms 5000
  samsa offsets orders --time earliest
  samsa groups describe billing --members
  samsa groups reset-offsets billing --topic orders --to-earliest            (the plan)
  samsa groups reset-offsets billing --all-topics --shift-by -10 --execute   (applied)
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
    const requestTimeout = program.opts<{ requestTimeoutMs?: number }>().requestTimeoutMs;
    return new Samsa({ url, auth: authFromOptions(), retry: { retries: 2, initialRetryTime: 100 }, ...(requestTimeout !== undefined ? { requestTimeout } : {}) });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
const admin = (): Admin => connect().admin();

// --- topics -------------------------------------------------------------------------------------

const topics = program.command('topics').description('create, list, describe, alter and delete topics');

const outputOption = () => new Option('-o, --output <format>', 'table (default) or json').choices(['table', 'json']).default('table');
const printJson = (v: unknown): void => void out(`${JSON.stringify(v, null, 2)}\n`);

topics
  .command('create')
  .description('create a topic')
  .argument('<topic>')
  .option('-p, --partitions <n>', 'number of partitions', int('--partitions', 1), 1)
  .option('-c, --config <key=value>', 'topic config (repeatable), e.g. retention.ms=86400000', collect)
  .option('--if-not-exists', 'succeed (exit 0) when the topic already exists')
  .action(async (topic: string, o: { partitions: number; config?: string[]; ifNotExists?: boolean }) => {
    try {
      const t = await admin().createTopic({ topic, numPartitions: o.partitions, config: parseConfig(o.config) });
      out(`Created topic "${t.name}" with ${t.partitions} partition${t.partitions === 1 ? '' : 's'}.\n`);
    } catch (err) {
      if (!(o.ifNotExists && err instanceof SamsaClientError && err.code === 'TOPIC_ALREADY_EXISTS')) throw err;
      info(`Topic "${topic}" already exists (--if-not-exists): left as it is.`);
    }
  });

topics
  .command('list')
  .description('list topics (names, one per line; --long adds partition counts)')
  .option('-l, --long', 'show partition counts')
  .addOption(outputOption())
  .action(async (o: { long?: boolean; output: 'table' | 'json' }) => {
    const ts = await admin().listTopicsWithPartitions();
    if (o.output === 'json') printJson(ts);
    else if (o.long) out(table([['TOPIC', 'PARTITIONS'], ...ts.map((t) => [t.name, t.partitions])]));
    else out(ts.map((t) => `${t.name}\n`).join(''));
  });

topics
  .command('describe')
  .description('show a topic: config and partitions with offsets')
  .argument('<topic>')
  .addOption(outputOption())
  .action(async (topic: string, o: { output: 'table' | 'json' }) => {
    const d = await admin().describeTopic(topic);
    if (o.output === 'json') return printJson(d);
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
  .option('--delete-config <key>', "revert a config key to Samsa's default (repeatable)", collect)
  .action(async (topic: string, o: { partitions?: number; config?: string[]; deleteConfig?: string[] }) => {
    if (o.partitions === undefined && !o.config && !o.deleteConfig) throw new UsageError('topics alter: give --partitions, --config and/or --delete-config');
    const config: Record<string, string | number> = parseConfig(o.config);
    for (const key of o.deleteConfig ?? []) {
      // The API has no "unset": a deleted key goes back to the default every new topic gets.
      if (!Object.hasOwn(DEFAULT_TOPIC_CONFIG, key)) throw new UsageError(`--delete-config: unknown config key "${key}" (known: ${Object.keys(DEFAULT_TOPIC_CONFIG).join(', ')})`);
      if (Object.hasOwn(config, key)) throw new UsageError(`"${key}" is both set (--config) and deleted (--delete-config)`);
      config[key] = DEFAULT_TOPIC_CONFIG[key as keyof typeof DEFAULT_TOPIC_CONFIG];
    }
    await admin().alterTopic(topic, { ...(o.partitions !== undefined ? { partitions: o.partitions } : {}), ...(Object.keys(config).length ? { config } : {}) });
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

interface ProduceOpts {
  keySeparator?: string;
  valueFormat: ValueFormat;
  partition?: number;
  compression: 'none';
  lingerMs: number;
  batchSize: number;
  header?: string[];
  parseHeaders?: boolean;
  headersDelimiter: string;
  headersSeparator: string;
  headersKeySeparator: string;
  property?: string[];
  timestamp?: string;
  file?: string[];
  key?: string;
}

/** A time as Kafka tools take it: ms since the epoch, or an ISO 8601 date. */
function parseTime(v: string, flag: string): number {
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(ms) || ms < 0) throw new UsageError(`${flag}: cannot read "${v}" as a time (ms since epoch, or ISO 8601 such as 2024-05-01T12:00:00Z)`);
  return ms;
}

/** `k=v` (or `k:v`) header arguments. */
function parseHeaderArgs(entries: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const i = e.search(/[=:]/);
    if (i <= 0) throw new UsageError(`--header takes key=value, got "${e}"`);
    out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

/** kafka-console-producer's `--property` settings, mapped onto the options above. */
function applyProducerProperties(o: ProduceOpts): void {
  const unescape = (v: string) => v.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const props = parseConfig(o.property);
  const flag = (k: string) => (props[k] === undefined ? undefined : props[k] === 'true');
  for (const k of Object.keys(props)) {
    if (!['parse.key', 'key.separator', 'parse.headers', 'headers.delimiter', 'headers.separator', 'headers.key.separator'].includes(k)) {
      throw new UsageError(`--property: unsupported "${k}" (supported: parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, headers.key.separator)`);
    }
  }
  if (flag('parse.key')) o.keySeparator ??= props['key.separator'] !== undefined ? unescape(props['key.separator']) : '\t';
  if (flag('parse.headers')) o.parseHeaders = true;
  if (props['headers.delimiter'] !== undefined) o.headersDelimiter = unescape(props['headers.delimiter']);
  if (props['headers.separator'] !== undefined) o.headersSeparator = unescape(props['headers.separator']);
  if (props['headers.key.separator'] !== undefined) o.headersKeySeparator = unescape(props['headers.key.separator']);
}

program
  .command('produce')
  .description('produce stdin lines as records (one record per line; empty lines are skipped), or files (--file)')
  .argument('<topic>')
  .option('-k, --key-separator <sep>', 'split each line at the first <sep> into key and value')
  .addOption(new Option('--value-format <format>', 'how a line (or its value part) becomes bytes').choices(VALUE_FORMATS).default('string'))
  .option('--partition <p>', 'send every record to this partition (default: by key, else sticky)', int('--partition'))
  .option('-H, --header <key=value>', 'a header on every record (repeatable)', collect)
  .option('--parse-headers', 'each line starts with headers: k1:v1,k2:v2<TAB>[key<sep>]value (kafka-console-producer parse.headers)')
  .option('--headers-delimiter <s>', 'between the headers and the rest of the line', '\t')
  .option('--headers-separator <s>', 'between two headers', ',')
  .option('--headers-key-separator <s>', 'between a header key and its value', ':')
  .option('--property <key=value>', 'kafka-console-producer properties: parse.key, key.separator, parse.headers, headers.* (repeatable)', collect)
  .option('--timestamp <time>', 'CreateTime of every record: ms since epoch or ISO 8601 (default: now)')
  .option('-f, --file <path>', 'produce this file as one record, its bytes the value (repeatable; stdin is not read)', collect)
  .option('--key <key>', 'with --file: the key of those records')
  .addOption(new Option('--compression <codec>', 'batch compression').choices(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('none'))
  .option('--linger-ms <ms>', 'batching delay', int('--linger-ms'), 5)
  .option('--batch-size <bytes>', 'batch size', int('--batch-size', 1), 1024 * 1024)
  .action(async (topic: string, o: ProduceOpts) => {
    applyProducerProperties(o);
    if (o.keySeparator === '') throw new UsageError('--key-separator must not be empty');
    if (o.key !== undefined && !o.file) throw new UsageError('--key goes with --file (for stdin lines use --key-separator)');
    const staticHeaders = parseHeaderArgs(o.header);
    const timestamp = o.timestamp !== undefined ? parseTime(o.timestamp, '--timestamp') : undefined;
    const files = (o.file ?? []).map((f) => {
      try {
        return fs.readFileSync(f);
      } catch (err) {
        throw new UsageError(`--file ${f}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
      }
    });
    const producer = connect().producer({ lingerMs: o.lingerMs, batchSize: o.batchSize, compression: o.compression });
    const partitions = await producer.partitionCount(topic); // unknown topic: fail before reading stdin
    if (o.partition !== undefined && o.partition >= partitions) throw new SamsaClientError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${topic}" has no partition ${o.partition} (it has ${partitions})`);
    /** A stdin line → key, value bytes and headers, as kafka-console-producer's LineMessageReader splits it. */
    const parseLine = (line: string, lineNo: number): Message => {
      let rest = line;
      const headers: Record<string, string> = {};
      if (o.parseHeaders) {
        const i = rest.indexOf(o.headersDelimiter);
        if (i < 0) throw new SamsaClientError('INVALID_REQUEST', `line ${lineNo} has no headers delimiter ${JSON.stringify(o.headersDelimiter)} (--parse-headers)`);
        const part = rest.slice(0, i);
        rest = rest.slice(i + o.headersDelimiter.length);
        if (part !== '') {
          for (const h of part.split(o.headersSeparator)) {
            const j = h.indexOf(o.headersKeySeparator);
            if (j <= 0) throw new SamsaClientError('INVALID_REQUEST', `line ${lineNo}: header "${h}" has no key separator ${JSON.stringify(o.headersKeySeparator)}`);
            headers[h.slice(0, j)] = h.slice(j + o.headersKeySeparator.length);
          }
        }
      }
      // --header adds to what the line carries; the line's own value wins for the same key.
      for (const [k, v] of Object.entries(staticHeaders)) headers[k] ??= v;
      let key: string | null = null;
      if (o.keySeparator !== undefined) {
        const i = rest.indexOf(o.keySeparator);
        if (i < 0) throw new SamsaClientError('INVALID_REQUEST', `line ${lineNo} has no key separator "${o.keySeparator}"`);
        key = rest.slice(0, i);
        rest = rest.slice(i + o.keySeparator.length);
      }
      return {
        key,
        value: encodeValue(rest, o.valueFormat, lineNo),
        ...(Object.keys(headers).length ? { headers } : {}),
        ...(o.partition !== undefined ? { partition: o.partition } : {}),
        ...(timestamp !== undefined ? { timestamp } : {}),
      };
    };
    const started = Date.now();
    const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'producing {bar} {value}/{total} records', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
    bar?.start(0, 0);
    let read = 0;
    let acked = 0;
    let failed = 0;
    let firstError: unknown;
    const inflight = new Set<Promise<void>>();
    const rl = files.length ? undefined : readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    let lineNo = 0;
    const fileMessages = files.map(
      (value): Message => ({ key: o.key ?? null, value, ...(Object.keys(staticHeaders).length ? { headers: staticHeaders } : {}), ...(o.partition !== undefined ? { partition: o.partition } : {}), ...(timestamp !== undefined ? { timestamp } : {}) }),
    );
    const source: AsyncIterable<string> | Message[] = rl ?? fileMessages;
    for await (const item of source) {
      lineNo++;
      if (item === '') continue;
      let message: Message;
      try {
        message = typeof item === 'string' ? parseLine(item, lineNo) : item;
      } catch (err) {
        // A bad line ends the run, but what was read before it is still sent (Kafka's console
        // producer closes, and so flushes, its producer on the way out) and counted.
        firstError = err;
        break;
      }
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
      info(failed > 0 ? `samsa: ${failed} of ${read} records failed; ${acked} stored` : `samsa: stopped at line ${lineNo}; of the ${read} records before it, ${acked} stored`);
      throw firstError;
    }
    info(`Produced ${acked} record${acked === 1 ? '' : 's'} to "${topic}" in ${secs.toFixed(2)} s${secs > 0 ? ` (${Math.round(acked / secs)} records/s)` : ''}.`);
  });

// --- consume ------------------------------------------------------------------------------------

interface ConsumeOpts {
  fromBeginning?: boolean;
  fromLatest?: boolean;
  fromTime?: string;
  group?: string;
  partition?: number;
  offset?: string;
  maxMessages?: number;
  timeoutMs?: number;
  exitAtEnd?: boolean;
  follow?: boolean;
  valueFormat: ValueFormat | 'hex';
  format: string;
  printKey?: boolean;
  printOffset?: boolean;
  printHeaders?: boolean;
  printTimestamp?: boolean;
  keySeparator: string;
}

program
  .command('consume')
  .description('print records of a topic to stdout, one value per line')
  .argument('<topic>')
  .option('--from-beginning', 'start at the earliest offset (default without --group: the end, as Kafka)')
  .option('--from-latest', 'with --group: start partitions without a committed offset at the end (default: earliest)')
  .option('--from-time <time>', 'start at the first record at or after this time (ms since epoch, or ISO 8601)')
  .option('-g, --group <group>', 'consume as a member of this consumer group, committing offsets')
  .option('--partition <p>', 'read only this partition', int('--partition'))
  .option('--offset <offset>', 'start at this offset, "earliest", "latest", or -N: the last N records (of each partition)')
  .option('-n, --max-messages <n>', 'exit after this many records', int('--max-messages', 1))
  .option('--timeout-ms <ms>', 'exit when no record arrives for this long', int('--timeout-ms', 1))
  .option('-e, --exit-at-end', 'exit once every partition is read up to its end (kcat -e)')
  .option('-f, --follow', 'once caught up, receive records over a live tail (Server-Sent Events) as they are written, instead of polling every second; falls back to polling where the server cannot stream')
  .addOption(new Option('--value-format <format>', 'how values are printed').choices(['string', 'json', 'base64', 'hex']).default('string'))
  .option('--format <format>', '"value" (the value alone), "json" (one JSON object per record), or a kcat format such as \'%k=%v (%p/%o @%T) %h\\n\'', 'value')
  .option('--print-key', 'print the key before the value')
  .option('--print-offset', 'print partition:offset before the value')
  .option('--print-headers', 'print the headers (k:v,k2:v2, or NO_HEADERS) before the key and value')
  .option('--print-timestamp', 'print CreateTime:<ms> first')
  .option('--key-separator <sep>', 'separator after the printed timestamp/offset/headers/key', '\t')
  .action(async (topic: string, o: ConsumeOpts) => {
    if (o.format !== 'value' && o.format !== 'json' && !o.format.includes('%')) throw new UsageError(`--format must be value, json, or a format string with %k/%v/%p/%o/%T/%h (got "${o.format}")`);
    if (o.offset !== undefined && !/^(\d+|-\d+|earliest|latest)$/.test(o.offset)) throw new UsageError('--offset must be an offset, -N (the last N), "earliest" or "latest"');
    const starts = [o.fromBeginning, o.fromTime !== undefined, o.offset !== undefined].filter(Boolean).length;
    if (starts > 1) throw new UsageError('give one of --from-beginning, --from-time, --offset');
    if (o.group && (o.partition !== undefined || o.offset !== undefined || o.fromTime !== undefined)) throw new UsageError('--group cannot be combined with --partition/--offset/--from-time (the group assigns partitions and resumes from its committed offsets)');
    if (o.group && o.exitAtEnd) throw new UsageError('--exit-at-end reads partitions directly; with --group use --timeout-ms');
    if (o.follow && (o.group || o.exitAtEnd)) throw new UsageError('--follow tails partitions directly; it excludes --group and --exit-at-end');
    if (o.fromBeginning && o.fromLatest) throw new UsageError('--from-beginning and --from-latest exclude each other');
    if (o.fromTime !== undefined) parseTime(o.fromTime, '--from-time');
    let count = 0;
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(EXIT.ok);
    });
    const samsa = connect();
    await samsa.admin().describeTopic(topic); // unknown topic: a clear error before anything else
    const done = o.group ? await consumeGroup(samsa, topic, o, (n) => (count = n)) : await consumePartitions(samsa, topic, o, (n) => (count = n));
    await drainStdout();
    info(`Processed a total of ${count} messages${done === 'timeout' ? ` (no message for ${o.timeoutMs} ms)` : done === 'end' ? ' (reached the end of every partition)' : ''}`);
  });

type EndReason = 'max' | 'timeout' | 'signal' | 'end';

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
  const ends = new Map<number, number>();
  for (const p of parts) {
    const state = d.partitions.find((x) => x.partition === p)!;
    const at = o.offset ?? (o.fromBeginning ? 'earliest' : 'latest');
    let start: number;
    if (o.fromTime !== undefined) start = await lookupOffset(samsa.http, topic, p, parseTime(o.fromTime, '--from-time'));
    else if (/^-\d+$/.test(at)) start = Math.max(state.logStartOffset, state.highWatermark + Number(at)); // the last N
    else if (/^\d+$/.test(at)) start = Number(at);
    else start = await lookupOffset(samsa.http, topic, p, at as 'earliest' | 'latest');
    positions.set(p, start);
    ends.set(p, state.highWatermark);
  }
  const { stopped, dispose } = stopSignals();
  const abort = new AbortController();
  let reason: EndReason | undefined;
  const finish = (r: EndReason): void => {
    reason ??= r;
    abort.abort();
  };
  void stopped.then(finish);
  let count = 0;
  let lastAt = Date.now();
  const idle =
    o.timeoutMs !== undefined
      ? setInterval(() => {
          if (Date.now() - lastAt >= o.timeoutMs!) finish('timeout');
        }, Math.min(100, o.timeoutMs))
      : undefined;
  // One reader per partition (lib/client/reader.ts): bulk reads past the API when far behind,
  // fetches for the rest, and once caught up either the end (-e), the live tail (--follow), or
  // a short poll every second — the cheap way to wait on Lambda (README, cost).
  const readOne = async (p: number): Promise<void> => {
    const chunks = readPartition(samsa.http, topic, p, positions.get(p)!, {
      follow: !o.exitAtEnd,
      followWith: o.follow ? 'tail' : 'poll',
      signal: abort.signal,
    });
    for await (const c of chunks) {
      let chunk = '';
      for (const m of c.messages) {
        if (o.maxMessages !== undefined && count >= o.maxMessages) break;
        chunk += formatMessage(topic, p, m, o);
        count++;
      }
      if (c.messages.length > 0) lastAt = Date.now();
      if (chunk && !out(chunk)) await new Promise((r) => process.stdout.once('drain', r));
      progress(count);
      if (o.maxMessages !== undefined && count >= o.maxMessages) return finish('max');
      if (o.exitAtEnd && c.nextOffset >= ends.get(p)!) return;
    }
  };
  try {
    await Promise.all(
      parts.map((p) =>
        readOne(p).catch((err: unknown) => {
          if (abort.signal.aborted) return; // a stop (max, timeout, signal) ends the reads
          throw err;
        }),
      ),
    );
    return reason ?? 'end';
  } finally {
    if (idle) clearInterval(idle);
    abort.abort();
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

// --- offsets ------------------------------------------------------------------------------------

program
  .command('offsets')
  .description('offsets of a topic per partition, as topic:partition:offset (kafka-get-offsets)')
  .argument('<topic>')
  .option('--time <time>', 'latest (-1, default), earliest (-2), or the first offset at or after a time (ms since epoch, ISO 8601)', 'latest')
  .option('--partition <p>', 'only this partition', int('--partition'))
  .addOption(outputOption())
  .action(async (topic: string, o: { time: string; partition?: number; output: 'table' | 'json' }) => {
    const at: 'earliest' | 'latest' | number = o.time === 'latest' || o.time === '-1' ? 'latest' : o.time === 'earliest' || o.time === '-2' ? 'earliest' : parseTime(o.time, '--time');
    const samsa = connect();
    const d = await samsa.admin().describeTopic(topic);
    if (o.partition !== undefined && !d.partitions.some((p) => p.partition === o.partition)) throw new SamsaClientError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${topic}" has no partition ${o.partition} (it has ${d.partitions.length})`);
    const parts = d.partitions.filter((p) => o.partition === undefined || p.partition === o.partition);
    const rows = await Promise.all(
      parts.map(async (p) => ({
        partition: p.partition,
        offset: at === 'earliest' ? p.logStartOffset : at === 'latest' ? p.highWatermark : await lookupOffset(samsa.http, topic, p.partition, at),
      })),
    );
    if (o.output === 'json') printJson(rows.map((r) => ({ topic, ...r })));
    else out(rows.map((r) => `${topic}:${r.partition}:${r.offset}\n`).join(''));
  });

// --- groups -------------------------------------------------------------------------------------

const groups = program.command('groups').description('list, describe, reset offsets of and delete consumer groups');

groups
  .command('list')
  .description('list consumer groups')
  .addOption(outputOption())
  .action(async (o: { output: 'table' | 'json' }) => {
    const gs = await admin().listGroups();
    if (o.output === 'json') return printJson(gs);
    // A group Kafka-protocol members hold: its state and members are in the listener, not here.
    out(table([['GROUP', 'STATE', 'GENERATION', 'MEMBERS'], ...gs.map((g) => (g.kafka_members ? [g.group, 'Kafka-held', '-', '-'] : [g.group, g.state, g.generation, g.members]))]));
  });

groups
  .command('describe')
  .description('show a group: members, committed offsets and lag per partition')
  .argument('<group>')
  .option('--members', 'the members: id, topics, assigned partitions (kafka-consumer-groups --members)')
  .option('--state', 'the group state, generation, assignor and member count (kafka-consumer-groups --state)')
  .addOption(outputOption())
  .action(async (group: string, o: { members?: boolean; state?: boolean; output: 'table' | 'json' }) => {
    if (o.members && o.state) throw new UsageError('give --members or --state, not both');
    const a = admin();
    const [d, offsets] = await Promise.all([a.describeGroup(group), a.fetchOffsets({ groupId: group })]);
    if (o.state) {
      if (o.output === 'json') return printJson({ group: d.group, state: d.state, generation: d.generation, assignor: d.assignor, members: d.members.length });
      return void out(table([['GROUP', 'STATE', 'GENERATION', 'ASSIGNMENT-STRATEGY', '#MEMBERS'], [d.group, d.state, d.generation, d.assignor, d.members.length]]));
    }
    if (o.members) {
      if (o.output === 'json') return printJson(d.members);
      return void out(
        table([
          ['GROUP', 'CONSUMER-ID', 'TOPICS', '#PARTITIONS', 'ASSIGNMENT'],
          ...d.members.map((m) => [d.group, m.memberId, m.topics.join(','), m.assignment.length, m.assignment.map((tp) => `${tp.topic}:${tp.partition}`).join(',') || '-']),
        ]),
      );
    }
    if (o.output === 'json') return printJson({ ...d, offsets });
    const owner = new Map<string, string>();
    for (const m of d.members) for (const tp of m.assignment) owner.set(`${tp.topic}/${tp.partition}`, m.memberId);
    const held = d.kafkaMembers ? 'held by Kafka-protocol members through the Kafka listener (kafka-consumer-groups --describe lists them)' : undefined;
    out(`Group "${d.group}": ${held ?? `${d.state}, generation ${d.generation}, ${d.members.length} member${d.members.length === 1 ? '' : 's'}`}, total lag ${d.lag}\n\n`);
    out(
      table([
        ['TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'LAG-TIME', 'EXPIRY-RISK', 'CONSUMER-ID'],
        ...offsets.map((x) => [
          x.topic,
          x.partition,
          x.offset < 0 ? '-' : x.offset,
          x.highWatermark,
          x.lag,
          formatLagTime(x.lagMs),
          x.expiryRisk ? 'YES' : 'no',
          owner.get(`${x.topic}/${x.partition}`) ?? '-',
        ]),
      ]),
    );
  });

/** A lag in time for people: 0s, 850ms, 12.5s, 3.2m, 4.1h, 2.0d. */
function formatLagTime(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)}m`;
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)}h`;
  return `${(ms / 86_400_000).toFixed(1)}d`;
}

/** ISO 8601 duration (PnDTnHnMnS, as kafka-consumer-groups --by-duration) → ms. */
function parseDuration(v: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(v);
  if (!m || v === 'P' || v.endsWith('T')) throw new UsageError(`--by-duration: cannot read "${v}" (ISO 8601 duration such as PT1H, P1DT2H30M)`);
  return ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000 + Number(m[4] ?? 0) * 1000;
}

interface ResetOpts {
  topic?: string[];
  allTopics?: boolean;
  toEarliest?: boolean;
  toLatest?: boolean;
  toDatetime?: string;
  toOffset?: number;
  shiftBy?: string;
  byDuration?: string;
  execute?: boolean;
  dryRun?: boolean;
  output: 'table' | 'json';
}

groups
  .command('reset-offsets')
  .description("move a group's committed offsets: shows the plan, changes them only with --execute (only while the group has no members)")
  .argument('<group>')
  .option('-t, --topic <topic>', 'topic whose offsets to reset (repeatable)', collect)
  .option('--all-topics', 'every topic the group has committed offsets for')
  .option('--to-earliest', 'to the log start')
  .option('--to-latest', 'to the end (skip everything)')
  .option('--to-datetime <when>', 'to the first record at or after this time (ISO 8601, or ms since epoch)')
  .option('--to-offset <offset>', 'to this offset (clamped into each partition’s range)', int('--to-offset'))
  .option('--shift-by <n>', 'move each committed offset by n (negative: back), clamped into the partition’s range')
  .option('--by-duration <duration>', 'to the first record at or after now minus this ISO 8601 duration (PT1H, P1D)')
  .option('--execute', 'apply the reset (without it, only the plan is shown)')
  .option('--dry-run', 'show the plan only (the default)')
  .addOption(outputOption())
  .action(async (group: string, o: ResetOpts) => {
    const chosen = [o.toEarliest, o.toLatest, o.toDatetime !== undefined, o.toOffset !== undefined, o.shiftBy !== undefined, o.byDuration !== undefined].filter(Boolean).length;
    if (chosen !== 1) throw new UsageError('reset-offsets: give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by, --by-duration');
    if (!o.topic === !o.allTopics) throw new UsageError('reset-offsets: give --topic <topic> (repeatable) or --all-topics');
    if (o.execute && o.dryRun) throw new UsageError('--execute and --dry-run exclude each other');
    if (o.shiftBy !== undefined && !/^-?\d+$/.test(o.shiftBy)) throw new UsageError(`--shift-by must be an integer (got "${o.shiftBy}")`);
    let to: ResetTarget | undefined;
    if (o.toEarliest) to = 'earliest';
    else if (o.toLatest) to = 'latest';
    else if (o.toOffset !== undefined) to = { offset: o.toOffset };
    else if (o.toDatetime !== undefined) to = { timestamp: parseTime(o.toDatetime, '--to-datetime') };
    else if (o.byDuration !== undefined) to = { timestamp: Math.max(0, Date.now() - parseDuration(o.byDuration)) };
    const samsa = connect();
    const a = samsa.admin();
    const committed = await a.fetchOffsets({ groupId: group });
    const topicsToReset = o.allTopics ? [...new Set(committed.map((c) => c.topic))] : o.topic!;
    if (topicsToReset.length === 0) throw new SamsaClientError('GROUP_ID_NOT_FOUND', `group "${group}" has no committed offsets, so --all-topics names no topic (use --topic)`);
    // The plan, computed as the server would: Kafka's convention is to show it and change nothing
    // unless --execute is given.
    const plan: Array<{ topic: string; partition: number; current: number; offset: number }> = [];
    for (const topic of topicsToReset) {
      const d = await a.describeTopic(topic);
      for (const p of d.partitions) {
        const current = committed.find((c) => c.topic === topic && c.partition === p.partition)?.offset ?? -1;
        const clamp = (n: number) => Math.min(Math.max(n, p.logStartOffset), p.highWatermark);
        let offset: number;
        if (to === 'earliest') offset = p.logStartOffset;
        else if (to === 'latest') offset = p.highWatermark;
        else if (to && 'offset' in to) offset = clamp(to.offset);
        else if (to && 'timestamp' in to) offset = await lookupOffset(samsa.http, topic, p.partition, to.timestamp);
        else offset = clamp((current < 0 ? p.logStartOffset : current) + Number(o.shiftBy));
        plan.push({ topic, partition: p.partition, current, offset });
      }
    }
    if (o.execute) {
      if (o.shiftBy !== undefined) {
        for (const topic of topicsToReset) await a.setOffsets({ groupId: group, topic, partitions: plan.filter((x) => x.topic === topic).map((x) => ({ partition: x.partition, offset: x.offset })) });
      } else {
        for (const topic of topicsToReset) {
          const done = await a.resetOffsets({ groupId: group, topic, to: to! });
          for (const r of done) {
            const row = plan.find((x) => x.topic === r.topic && x.partition === r.partition);
            if (row) row.offset = r.offset; // what the server applied
          }
        }
      }
    } else {
      // Fails like the real reset would (NON_EMPTY_GROUP) rather than previewing something impossible.
      const d = await a.describeGroup(group).catch(() => undefined);
      if (d && d.members.length > 0) info(`samsa: note: group "${group}" has ${d.members.length} active member(s); --execute will be refused until they leave (NON_EMPTY_GROUP)`);
    }
    if (o.output === 'json') printJson(plan.map((x) => ({ topic: x.topic, partition: x.partition, current_offset: x.current < 0 ? null : x.current, new_offset: x.offset })));
    else out(table([['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'NEW-OFFSET'], ...plan.map((x) => [group, x.topic, x.partition, x.current < 0 ? '-' : x.current, x.offset])]));
    if (!o.execute) info('samsa: this is the plan only; nothing changed. Add --execute to apply it.');
  });

groups
  .command('delete-offsets')
  .description("forget a topic's committed offsets (kafka-consumer-groups --delete-offsets); refused while a member subscribes to the topic")
  .argument('<group>')
  .requiredOption('--topic <topic[:p,p...]>', 'the topic, optionally with partitions (orders, or orders:0,2)')
  .action(async (group: string, o: { topic: string }) => {
    const i = o.topic.lastIndexOf(':');
    const topic = i < 0 ? o.topic : o.topic.slice(0, i);
    const parts = i < 0 ? undefined : o.topic.slice(i + 1).split(',').map((x) => {
      if (!/^\d+$/.test(x)) throw new UsageError(`--topic: "${x}" is not a partition number (use orders or orders:0,2)`);
      return Number(x);
    });
    const deleted = await admin().deleteOffsets({ groupId: group, topic, ...(parts ? { partitions: parts } : {}) });
    out(deleted.length === 0 ? `Group "${group}" had no committed offsets of "${topic}".\n` : table([['GROUP', 'TOPIC', 'PARTITION', 'STATUS'], ...deleted.map((d) => [group, d.topic, d.partition, 'deleted'])]));
  });

groups
  .command('delete')
  .description('delete a group and its committed offsets (only when it has no members)')
  .argument('<group>')
  .action(async (group: string) => {
    await admin().deleteGroup(group);
    out(`Deleted group "${group}".\n`);
  });

registerAccessCommands(program, admin, out);

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
    if (err instanceof Declined) return EXIT.refused; // said already
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
