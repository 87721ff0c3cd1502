// A hand-written check of the JSON produce body, for the hot route (issue 18): zod's generic
// walk over 500 records was a tenth of a keyed request's CPU. It accepts a subset of what
// S.ProduceBody accepts — every rule is the schema's, checked the same way or more strictly —
// and answers `undefined` for anything else, so that the route falls through to the zod
// validator, which refuses it with the same error text as always (or accepts the odd body this
// check was too strict for). The schema stays the one source for OpenAPI and for error messages.
import { isTopicName } from '../log/topic-config';
import type { KeyFormat, ValueFormat } from './format';
import * as S from './schemas';

export interface CheckedHeader {
  key: string;
  value: string | null;
}

export interface CheckedRecord {
  key?: unknown;
  value?: unknown;
  headers?: CheckedHeader[];
  partition?: number;
  timestamp?: number;
}

export interface CheckedProduceBody {
  records: CheckedRecord[];
  key_format: KeyFormat;
  value_format: ValueFormat;
  producer?: { id: number; epoch: number; sequence: number };
}

const FORMATS = new Set(['string', 'json', 'base64']);
const MAX_HEADERS = 1000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** zod 4's .int() takes safe integers only. */
const intIn = (v: unknown, min: number, max: number): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

/** The path's topic name as S.TopicName would accept it, else undefined. */
export function checkTopicName(name: string | undefined): string | undefined {
  return name !== undefined && isTopicName(name) ? name : undefined;
}

/** The body as S.ProduceBody would parse it (defaults applied), or undefined: let zod decide. */
export function checkProduceBody(body: unknown): CheckedProduceBody | undefined {
  if (!isObject(body)) return undefined;
  const { records, key_format: kf = 'string', value_format: vf = 'json', producer } = body;
  if (!Array.isArray(records) || records.length < 1 || records.length > S.MAX_RECORDS_PER_REQUEST) return undefined;
  if (typeof kf !== 'string' || !FORMATS.has(kf) || typeof vf !== 'string' || !FORMATS.has(vf)) return undefined;
  let checkedProducer: CheckedProduceBody['producer'];
  if (producer !== undefined) {
    if (!isObject(producer)) return undefined;
    const { id, epoch, sequence } = producer;
    if (!intIn(id, 0, Number.MAX_SAFE_INTEGER) || !intIn(epoch, 0, 32767) || !intIn(sequence, 0, 2147483647)) return undefined;
    checkedProducer = { id, epoch, sequence };
  }
  for (const r of records) {
    // A record without `value` passes the schema but is refused by the route with its own
    // message: leave that to the zod path as well.
    if (!isObject(r) || !('value' in r)) return undefined;
    const { headers, partition, timestamp } = r;
    if (partition !== undefined && !intIn(partition, 0, Number.MAX_SAFE_INTEGER)) return undefined;
    if (timestamp !== undefined && !intIn(timestamp, 0, Number.MAX_SAFE_INTEGER)) return undefined;
    if (headers !== undefined) {
      if (!Array.isArray(headers) || headers.length > MAX_HEADERS) return undefined;
      for (const h of headers) {
        if (!isObject(h) || typeof h['key'] !== 'string' || (typeof h['value'] !== 'string' && h['value'] !== null)) return undefined;
      }
    }
  }
  return {
    records: records as CheckedRecord[],
    key_format: kf as KeyFormat,
    value_format: vf as ValueFormat,
    ...(checkedProducer ? { producer: checkedProducer } : {}),
  };
}
