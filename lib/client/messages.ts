// Message shapes shared by producer and consumer, KafkaJS-style: keys, values and header values
// may be strings or bytes on the way in; on the way out they are Buffers.

export type Bytes = string | Buffer | Uint8Array;
export type MessageHeaders = Record<string, Bytes | null | undefined>;

export interface Message {
  key?: Bytes | null;
  value: Bytes | null;
  headers?: MessageHeaders;
  /** Explicit partition; otherwise Kafka's murmur2 partitioner on the key, else sticky. */
  partition?: number;
  /** CreateTime, ms since epoch (number or numeric string, as KafkaJS). Default: now. */
  timestamp?: number | string;
}

/** A message as consumed. */
export interface ConsumedMessage {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | null>;
}

const encoder = new TextEncoder();

export function toBytes(v: Bytes | null | undefined): Uint8Array | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? encoder.encode(v) : v;
}

export const toBuffer = (b: Uint8Array | null): Buffer | null => (b === null ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
