// The history format shared by the workload (which writes it) and the checker (which reads it):
// one JSON object per line, Jepsen-style — an `invoke` line when an operation starts and one
// completion line (`ok`, `fail` = definitely not applied, `info` = indeterminate) when it ends.
// Completion lines repeat what the checker needs (`f`, `process`, the invoke's fields), so every
// line can be read on its own.
import fs from 'node:fs';

export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

/** A record as observed by a read, or as acknowledged by a send. */
export interface Obs {
  topic: string;
  partition: number;
  offset: number;
  value: string;
}

export interface SendValue {
  /** Explicit partition, or undefined when the key chose it (the ack tells). */
  partition?: number;
  value: string;
}

interface Base {
  /** Position in the history (assigned by the recorder). */
  index: number;
  /** ms since the run started. */
  time: number;
  type: OpType;
  /** The client (or `nemesis`, `final`) that ran the op; one process runs one op at a time. */
  process: string;
  /** Pairs an invoke with its completion. */
  id: number;
  error?: string;
  status?: number;
}

/** A produce request (JSON or one binary RecordBatch). */
export interface SendOp extends Base {
  f: 'send';
  topic: string;
  format: 'json' | 'binary';
  values: SendValue[];
  /** Idempotent produce; retries of one logical send share `write` and the sequence. */
  producer?: { id: number; epoch: number; sequence: number };
  /** One logical write: every attempt (retry) of it carries the same id. */
  write: string;
  /** ok only: one entry per value, in request order. */
  acks?: Array<{ partition: number; offset: number }>;
}

/** A direct fetch of one partition from `offset`. */
export interface FetchOp extends Base {
  f: 'fetch';
  topic: string;
  partition: number;
  offset: number;
  records?: Obs[];
  high_watermark?: number;
  log_start_offset?: number;
}

/** A consumer-group poll by one member. `mode` says how the member acknowledges. */
export interface PollOp extends Base {
  f: 'poll';
  group: string;
  member: string;
  mode: 'auto' | 'explicit';
  records?: Obs[];
  generation?: number;
  assignment?: Array<{ topic: string; partition: number }>;
}

/** An explicit offset commit (next position to read) by a member. */
export interface CommitOp extends Base {
  f: 'commit';
  group: string;
  member: string;
  generation: number;
  offsets: Array<{ topic: string; partition: number; offset: number }>;
}

export interface JoinOp extends Base {
  f: 'join' | 'leave';
  group: string;
  member?: string;
  generation?: number;
}

/** Nemesis topic churn: the topic is deleted, then re-created under the same name. */
export interface TopicOp extends Base {
  f: 'delete-topic' | 'create-topic';
  topic: string;
}

/** The final phase's full read of one partition, log start to high watermark. */
export interface FinalReadOp extends Base {
  f: 'final-read';
  topic: string;
  partition: number;
  records?: Obs[];
  log_start_offset?: number;
  high_watermark?: number;
}

/** The final phase's group drain: every record a fresh member of `group` received. */
export interface FinalGroupOp extends Base {
  f: 'final-group';
  group: string;
  committed?: Array<{ topic: string; partition: number; offset: number }>;
}

/** The HTTP fault proxy forwarded request `op` twice (a legitimate client-side retry). */
export interface ProxyOp extends Base {
  f: 'proxy-dup';
  op: number;
}

/** Nemesis actions (kill, pause, resume, restart, faults on/off): context for humans. */
export interface NemesisOp extends Base {
  f: 'nemesis';
  action: string;
  target?: string;
}

export type Op = SendOp | FetchOp | PollOp | CommitOp | JoinOp | TopicOp | FinalReadOp | FinalGroupOp | ProxyOp | NemesisOp;

/** Appends ops to a JSONL file (and keeps them in memory for the checker). */
export class Recorder {
  readonly ops: Op[] = [];
  private nextId = 1;
  private readonly t0 = Date.now();
  private readonly fd: number | undefined;

  constructor(file?: string) {
    this.fd = file ? fs.openSync(file, 'w') : undefined;
  }

  now(): number {
    return Date.now() - this.t0;
  }

  newId(): number {
    return this.nextId++;
  }

  /** Records `op` (index and time are filled in) and returns it. */
  add<T extends Op>(op: Omit<T, 'index' | 'time'> & { time?: number }): T {
    const full = { ...op, index: this.ops.length, time: op.time ?? this.now() } as unknown as T;
    this.ops.push(full);
    if (this.fd !== undefined) fs.writeSync(this.fd, JSON.stringify(full) + '\n');
    return full;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
  }
}

export function readHistory(file: string): Op[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Op);
}
