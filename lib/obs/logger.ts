// Structured logs: one JSON object per line, on stdout, in every mode. CloudWatch Logs stores
// the Lambda functions' lines as they are (and turns the EMF ones into metrics); on a server
// they pipe into any log shipper. Hand-written rather than pino or Powertools Logger: all Samsa
// needs is a level filter, bound fields and error cause chains, and this costs the Lambda
// cold start nothing (docs/architecture.md, "Operations").
//
// What is never logged: record keys, values or headers, request bodies, and credentials. The
// callers pass only names, numbers and codes; `redact` is the last line of defence for fields
// whose name says they hold a secret.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  enabled(level: LogLevel): boolean;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields, err?: unknown): void;
  error(msg: string, fields?: LogFields, err?: unknown): void;
  /** A logger that adds `bindings` to every line (request id, job name...). */
  child(bindings: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where a finished line goes (default: stdout, one write per line). */
  write?: (line: string, level: LogLevel) => void;
  now?: () => number;
  bindings?: LogFields;
}

const SECRET_FIELD = /authorization|secret|password|token|api[_-]?key|credential/i;
/** How deep a cause chain is followed: a cycle or a pathological chain must not hang a log call. */
const MAX_CAUSES = 5;

export function parseLogLevel(raw: string | undefined, dflt: LogLevel = 'info'): LogLevel {
  const l = (raw ?? '').trim().toLowerCase();
  return l in RANK ? (l as LogLevel) : dflt;
}

/** An Error (and its `cause` chain) as plain JSON: name, message, code, stack. */
export function serializeError(err: unknown, depth = 0): LogFields {
  if (!(err instanceof Error)) return { message: String(err) };
  const out: LogFields = { name: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (err.stack) out.stack = err.stack;
  if (err.cause !== undefined && depth < MAX_CAUSES) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

/** Field names already tested against SECRET_FIELD: the same few names recur on every line. */
const secretName = new Map<string, boolean>();

function isSecretName(k: string): boolean {
  let secret = secretName.get(k);
  if (secret === undefined) {
    secret = SECRET_FIELD.test(k);
    // Names come from the code, not from requests; the bound is a guard, not a working limit.
    if (secretName.size < 1024) secretName.set(k, secret);
  }
  return secret;
}

function redact(fields: LogFields): LogFields {
  let out: LogFields | undefined;
  for (const k in fields) {
    if (!Object.hasOwn(fields, k)) continue;
    if (isSecretName(k)) {
      out ??= { ...fields };
      out[k] = '[redacted]';
    }
  }
  return out ?? fields;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const write = opts.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const now = opts.now ?? Date.now;
  const bindings = opts.bindings ? redact(opts.bindings) : {};
  const min = RANK[level];

  // The time of the last line, formatted: lines written within the same millisecond (an access
  // line per request, under load) share one Date and one string.
  let lastMs = Number.NaN;
  let lastTime = '';
  const timeOf = (ms: number): string => {
    if (ms !== lastMs) {
      lastMs = ms;
      lastTime = new Date(ms).toISOString();
    }
    return lastTime;
  };

  const emit = (lvl: LogLevel, msg: string, fields?: LogFields, err?: unknown): void => {
    if (RANK[lvl] < min) return;
    const line: LogFields = { level: lvl, time: timeOf(now()), msg, ...bindings, ...(fields ? redact(fields) : {}) };
    if (err !== undefined) line.err = serializeError(err);
    let text: string;
    try {
      text = JSON.stringify(line);
    } catch {
      // A field that cannot be serialised (a cycle, a BigInt) must not turn a log call into a crash.
      text = JSON.stringify({ level: lvl, time: line.time, msg, ...bindings, note: 'fields not serialisable' });
    }
    write(text, lvl);
  };

  return {
    level,
    enabled: (lvl) => RANK[lvl] >= min,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields, err) => emit('warn', msg, fields, err),
    error: (msg, fields, err) => emit('error', msg, fields, err),
    child: (more) => lazyChild(min, level, () => createLogger({ level, write, now, bindings: { ...bindings, ...more } })),
  };
}

/**
 * A child logger builds its bound fields and the real logger on its first line, not when made:
 * the observe middleware makes one per request (its request id), and at warn most requests log
 * nothing — building each up front was about 2.8 KB of garbage per request, some 4% of a
 * single-record produce's allocations (issue 18 item 1). Its methods stay callable detached,
 * as every Logger's are (lib/runtime/jobs.ts picks one by level).
 */
function lazyChild(min: number, level: LogLevel, make: () => Logger): Logger {
  let real: Logger | undefined;
  const get = (): Logger => (real ??= make());
  return {
    level,
    enabled: (lvl) => RANK[lvl] >= min,
    debug: (msg, fields) => void (RANK.debug >= min && get().debug(msg, fields)),
    info: (msg, fields) => void (RANK.info >= min && get().info(msg, fields)),
    warn: (msg, fields, err) => void (RANK.warn >= min && get().warn(msg, fields, err)),
    error: (msg, fields, err) => void (RANK.error >= min && get().error(msg, fields, err)),
    child: (more) => get().child(more),
  };
}

/** A logger that drops everything (library defaults, tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => {} });

export interface DeferredWriter {
  write: (line: string, level: LogLevel) => void;
  /** Writes what is held now, synchronously (process exit, tests). */
  flush: () => void;
}

/**
 * A line writer for the long-running server (bin/serve.ts): info and debug lines — the access
 * log, one line per request at the default level — are held and written together once the
 * event loop has finished the current turn's I/O callbacks (setImmediate), so a request's
 * line goes out after its response rather than in front of it, and lines of one turn share
 * one write. Each line is formatted when it is logged (content and time as before); only the
 * write moves. warn and error lines are never held: they write what is held, then themselves.
 * Held bytes are bounded (`maxBytes`: past it the lines are written at once), and the holder
 * of the writer flushes on process exit; a SIGKILL loses at most the current turn's info lines.
 * Not for Lambda: a function may be frozen before a setImmediate runs (functions/ write per line).
 */
export function deferredWriter(out: (text: string) => void = (text) => void process.stdout.write(text), maxBytes = 64 * 1024): DeferredWriter {
  let held: string[] = [];
  let bytes = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (held.length === 0) return;
    const text = `${held.join('\n')}\n`;
    held = [];
    bytes = 0;
    out(text);
  };
  const onImmediate = (): void => {
    if (scheduled) flush();
  };
  return {
    write: (line, level) => {
      if (level === 'warn' || level === 'error') {
        flush();
        out(`${line}\n`);
        return;
      }
      held.push(line);
      bytes += line.length + 1;
      if (bytes >= maxBytes) flush();
      else if (!scheduled) {
        scheduled = true;
        // Not unref'd: a held line keeps the process until it is written (exit flushes anyway).
        setImmediate(onImmediate);
      }
    },
    flush,
  };
}
