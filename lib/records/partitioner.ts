// Kafka's default partitioner: the same key lands on the same partition as it would with the
// Java client (and KafkaJS's DefaultPartitioner), so producers can mix clients on one topic.

import type { RecordBytes } from './utf8.js';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's `Utils.murmur2`: MurmurHash2, seed 0x9747b28c, signed 32-bit result. */
export function murmur2(bytes: Uint8Array): number {
  const len = bytes.length;
  let h = SEED ^ len;
  const tail = len & ~3;
  for (let i = 0; i < tail; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = len & 3;
  if (rest !== 0) {
    if (rest === 3) h ^= bytes[tail + 2]! << 16;
    if (rest >= 2) h ^= bytes[tail + 1]! << 8;
    h ^= bytes[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not Math.abs, which breaks on MIN_VALUE). */
export const toPositive = (n: number): number => n & 0x7fffffff;

/**
 * murmur2 of an ASCII string's bytes (its char codes), without encoding it first: the same
 * steps as murmur2 above, reading charCodeAt instead of bytes.
 */
function murmur2Ascii(s: string): number {
  const len = s.length;
  let h = SEED ^ len;
  const tail = len & ~3;
  for (let i = 0; i < tail; i += 4) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = len & 3;
  if (rest !== 0) {
    if (rest === 3) h ^= s.charCodeAt(tail + 2) << 16;
    if (rest >= 2) h ^= s.charCodeAt(tail + 1) << 8;
    h ^= s.charCodeAt(tail);
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Kafka's default partitioner picks for a keyed record (a text key: its UTF-8 bytes). */
export function defaultPartition(key: RecordBytes, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions <= 0) {
    throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
  }
  const hash = key instanceof Uint8Array ? murmur2(key) : key.ascii ? murmur2Ascii(key.text) : murmur2(key.bytes());
  return toPositive(hash) % numPartitions;
}
