// The only place below lib/ that reads the environment. Everything else receives a Config.
import fs from 'node:fs';
import path from 'node:path';
import { type AuthMode, parseApiKeys } from '../auth/principal';
import { DEFAULT_BUCKET, DEFAULT_TABLE } from '../storage/aws-resources';
import { DEFAULT_LEASE_MS } from '../log/lease';

export interface Config {
  storage: 'embedded' | 'aws';
  host: string;
  port: number;
  dataDir: string;
  bucket: string;
  table: string;
  jobIntervalMs: number;
  maxRequestBytes: number;
  /**
   * Without a flush function: this process flushes a partition this long after a commit;
   * -1 leaves flushing to the job.
   */
  flushDelayMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Embedded mode: fsync before acknowledging (survive power loss, not only kill -9). */
  fsync: boolean;
  /**
   * AWS (Lambda) mode: the flush function to invoke asynchronously once this instance has
   * committed `flushTriggerBytes` to a partition since its last hand-off (checked at most once
   * per `flushTriggerWindowMs`; docs/design/0006-deployment.md).
   * Unset: this process flushes itself after `flushDelayMs`, or only the job does.
   */
  flushFunction: string | undefined;
  /**
   * AWS (Lambda) mode: the retention function to invoke asynchronously after a topic deletion,
   * so the deleted incarnation's data goes seconds later instead of at the next scheduled pass
   * (lib/runtime/lambda/deletion-handoff.ts). SAMSA_RETENTION_FUNCTION; unset: the schedule.
   */
  retentionFunction: string | undefined;
  flushTriggerBytes: number;
  /**
   * With a flush function: how often at most a partition's committed bytes are compared with
   * `flushTriggerBytes`; -1 turns the hand-off off. SAMSA_FLUSH_TRIGGER_WINDOW_MS, else (the
   * variable older deployments set for both) SAMSA_FLUSH_DELAY_MS.
   */
  flushTriggerWindowMs: number;
  /**
   * Where the object store's append copies the object (S3), the active segment is written in
   * chunks of at least this many bytes (design note 0011; default 8 MiB). Undefined: the default.
   */
  flushChunkBytes: number | undefined;
  /**
   * Partition lease duration (flush and retention leadership). Every process sharing the
   * storage must use the same value: expiry is judged with the reader's duration.
   */
  leaseMs: number;
  /** Who is calling (lib/auth/principal.ts); anything but none turns ACL checks on. */
  auth: AuthMode;
  /** SAMSA_API_KEYS or SAMSA_API_KEYS_FILE: principal → secret (auth=keys). */
  apiKeys: Map<string, string>;
  /** Principals that bypass ACLs. */
  superUsers: string[];
  /** Let auth=none listen on a non-loopback address anyway. */
  allowAnonymous: boolean;
  /** auth=jwt: the claim that names the principal. */
  jwtClaim: string;
  /** Lambda: the Function URL's invoke mode, as the construct deployed it (lib/http/limits.ts). */
  invokeMode: 'BUFFERED' | 'RESPONSE_STREAM';
  /**
   * Lambda: what fronts the function, as the construct deployed it (SAMSA_LAMBDA_FRONT). Unset:
   * API Gateway when SAMSA_AUTH=jwt, else a Function URL (deployments from before the variable).
   */
  lambdaFront: 'function-url' | 'api-gateway' | undefined;
  /** Lambda: the function's timeout, which bounds live-tail sessions (0: unknown). */
  functionTimeoutMs: number;
  /**
   * The Kafka wire-protocol listener (docs/kafka.md): port (undefined: none), the host:port
   * Metadata advertises, socket.request.max.bytes, and TLS files (both or neither).
   */
  kafka?: { port: number; advertised: string | undefined; maxRequestBytes: number; maxQueuedBytes: number; tlsCert: string | undefined; tlsKey: string | undefined };
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const int = (name: string, dflt: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      problems.push(`${name} must be an integer ≥ ${min}, got "${raw}"`);
      return dflt;
    }
    return n;
  };
  const bool = (name: string, dflt: boolean): boolean => {
    const raw = (env[name] ?? '').trim().toLowerCase();
    if (raw === '') return dflt;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name} must be true or false, got "${env[name]}"`);
    return dflt;
  };
  const storage = (env.SAMSA_STORAGE ?? 'embedded').toLowerCase();
  if (storage !== 'embedded' && storage !== 'aws') problems.push(`SAMSA_STORAGE must be "embedded" or "aws", got "${env.SAMSA_STORAGE}"`);
  const level = (env.SAMSA_LOG_LEVEL ?? 'info').toLowerCase();
  const cfg: Config = {
    storage: storage === 'aws' ? 'aws' : 'embedded',
    host: env.SAMSA_HOST || '127.0.0.1',
    port: int('PORT', 8080, 0),
    dataDir: path.resolve(env.SAMSA_DATA_DIR || './data'),
    bucket: env.SAMSA_BUCKET || DEFAULT_BUCKET,
    table: env.SAMSA_TABLE || DEFAULT_TABLE,
    // AWS mode runs its jobs on a schedule (Lambda, or `npm run job:*`); the embedded server
    // runs them itself.
    jobIntervalMs: int('SAMSA_JOB_INTERVAL_MS', storage === 'aws' ? 0 : 10_000, 0),
    maxRequestBytes: int('SAMSA_MAX_REQUEST_BYTES', 64 * 1024 * 1024, 1024),
    flushDelayMs: int('SAMSA_FLUSH_DELAY_MS', storage === 'aws' ? -1 : 200, -1),
    logLevel: (['debug', 'info', 'warn', 'error'].includes(level) ? level : 'info') as Config['logLevel'],
    fsync: bool('SAMSA_FSYNC', false),
    flushFunction: env.SAMSA_FLUSH_FUNCTION?.trim() || undefined,
    retentionFunction: env.SAMSA_RETENTION_FUNCTION?.trim() || undefined,
    flushTriggerBytes: int('SAMSA_FLUSH_TRIGGER_BYTES', 32 * 1024 * 1024, 0),
    flushChunkBytes: env.SAMSA_FLUSH_CHUNK_BYTES?.trim() ? int('SAMSA_FLUSH_CHUNK_BYTES', 0, 1024) : undefined,
    flushTriggerWindowMs: int(env.SAMSA_FLUSH_TRIGGER_WINDOW_MS !== undefined ? 'SAMSA_FLUSH_TRIGGER_WINDOW_MS' : 'SAMSA_FLUSH_DELAY_MS', -1, -1),
    leaseMs: int('SAMSA_LEASE_MS', DEFAULT_LEASE_MS, 100),
    auth: 'none',
    apiKeys: new Map(),
    superUsers: [],
    allowAnonymous: false,
    jwtClaim: 'sub',
    invokeMode: 'BUFFERED',
    lambdaFront: undefined,
    functionTimeoutMs: int('SAMSA_FUNCTION_TIMEOUT_MS', 0, 0),
  };
  const invokeMode = (env.SAMSA_INVOKE_MODE ?? 'BUFFERED').trim().toUpperCase() || 'BUFFERED';
  if (invokeMode !== 'BUFFERED' && invokeMode !== 'RESPONSE_STREAM') problems.push(`SAMSA_INVOKE_MODE must be BUFFERED or RESPONSE_STREAM, got "${env.SAMSA_INVOKE_MODE}"`);
  else cfg.invokeMode = invokeMode;
  const front = env.SAMSA_LAMBDA_FRONT?.trim().toLowerCase();
  if (front === 'function-url' || front === 'api-gateway') cfg.lambdaFront = front;
  else if (front) problems.push(`SAMSA_LAMBDA_FRONT must be function-url or api-gateway, got "${env.SAMSA_LAMBDA_FRONT}"`);
  const auth = (env.SAMSA_AUTH ?? 'none').trim().toLowerCase() || 'none';
  if (!['none', 'keys', 'iam', 'jwt'].includes(auth)) problems.push(`SAMSA_AUTH must be none, keys, iam or jwt, got "${env.SAMSA_AUTH}"`);
  let apiKeys = new Map<string, string>();
  try {
    if (env.SAMSA_API_KEYS) apiKeys = parseApiKeys(env.SAMSA_API_KEYS);
    if (env.SAMSA_API_KEYS_FILE) {
      const parsed: unknown = JSON.parse(fs.readFileSync(env.SAMSA_API_KEYS_FILE, 'utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('SAMSA_API_KEYS_FILE must hold a JSON object principal → secret');
      for (const [p, secret] of Object.entries(parsed)) {
        if (typeof secret !== 'string' || secret === '') throw new Error(`SAMSA_API_KEYS_FILE: the secret of ${p} must be a non-empty string`);
        apiKeys.set(p, secret);
      }
    }
  } catch (err) {
    // The message names the variable, never a secret.
    problems.push(err instanceof SyntaxError ? 'SAMSA_API_KEYS_FILE is not valid JSON' : (err as Error).message);
  }
  for (const p of apiKeys.keys()) if (!/^User:[^\s,=]+$/.test(p)) problems.push(`API key principals look like User:<name>, got "${p}"`);
  if (auth === 'keys' && apiKeys.size === 0) problems.push('SAMSA_AUTH=keys needs SAMSA_API_KEYS or SAMSA_API_KEYS_FILE');
  cfg.auth = auth as AuthMode;
  cfg.apiKeys = apiKeys;
  cfg.superUsers = (env.SAMSA_SUPER_USERS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  cfg.allowAnonymous = bool('SAMSA_ALLOW_ANONYMOUS', false);
  cfg.jwtClaim = env.SAMSA_JWT_CLAIM?.trim() || 'sub';
  if (env.SAMSA_KAFKA_PORT !== undefined && env.SAMSA_KAFKA_PORT.trim() !== '') {
    const tlsCert = env.SAMSA_KAFKA_TLS_CERT?.trim() || undefined;
    const tlsKey = env.SAMSA_KAFKA_TLS_KEY?.trim() || undefined;
    if ((tlsCert === undefined) !== (tlsKey === undefined)) problems.push('SAMSA_KAFKA_TLS_CERT and SAMSA_KAFKA_TLS_KEY go together');
    cfg.kafka = {
      port: int('SAMSA_KAFKA_PORT', 9092, 0),
      advertised: env.SAMSA_KAFKA_ADVERTISED?.trim() || undefined,
      maxRequestBytes: int('SAMSA_KAFKA_MAX_REQUEST_BYTES', 100 * 1024 * 1024, 1024),
      maxQueuedBytes: int('SAMSA_KAFKA_QUEUED_MAX_REQUEST_BYTES', 256 * 1024 * 1024, 1024),
      tlsCert,
      tlsKey,
    };
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return cfg;
}

/** Whether a listen address is reachable from this host only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Why the Node server must not start with this configuration, if it must not. */
export function unsafeListenReason(cfg: Config): string | undefined {
  // iam and jwt read identities AWS verified in a Lambda event: a Node server has none, so every request would be a 401.
  if (cfg.auth === 'iam' || cfg.auth === 'jwt') return `SAMSA_AUTH=${cfg.auth} identifies Lambda callers; the Node server takes SAMSA_AUTH=none or keys`;
  if (cfg.auth !== 'none' || cfg.allowAnonymous || isLoopbackHost(cfg.host)) return undefined;
  return `refusing to listen on ${cfg.host} with SAMSA_AUTH=none: anyone who reaches it could read, write and delete every topic. Set SAMSA_AUTH=keys (with SAMSA_API_KEYS), bind SAMSA_HOST=127.0.0.1, or set SAMSA_ALLOW_ANONYMOUS=true to accept the risk.`;
}
