// KafkaJS 2.2.4's own RecordBatch encoder/decoder, murmur2 and crc32C, loaded from its sources
// as the independent reference our codec must agree with. KafkaJS is CommonJS and untyped,
// hence createRequire and the loose types here (tests only).

import { createRequire } from 'node:module';
import type { RecordHeader } from '../../../lib/records/index.js';

const require = createRequire(import.meta.url);

 
const Long: any = require('kafkajs/src/utils/long');
const Encoder: any = require('kafkajs/src/protocol/encoder');
const Decoder: any = require('kafkajs/src/protocol/decoder');
const { RecordBatch }: any = require('kafkajs/src/protocol/recordBatch/v0');
const Record: any = require('kafkajs/src/protocol/recordBatch/record/v0');
const batchDecoder: any = require('kafkajs/src/protocol/recordBatch/v0/decoder');
const compression: any = require('kafkajs/src/protocol/message/compression');

export const kafkajsCrc32C: (buf: Buffer) => number = require('kafkajs/src/protocol/recordBatch/crc32C');
export const kafkajsMurmur2: (key: Buffer | string) => number = require('kafkajs/src/producer/partitioners/default/murmur2');

export interface KjsCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** Installs a codec through KafkaJS's plugin interface (`CompressionCodecs[type] = () => codec`). */
export function registerKafkajsCodec(type: number, codec: KjsCodec): void {
  compression.Codecs[type] = () => codec;
}

const buf = (u: Uint8Array | null | undefined): Buffer | null =>
  u == null ? null : Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export interface KjsRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: RecordHeader[];
  timestamp: number;
}

export interface KjsBatchOptions {
  compression?: number;
  baseOffset?: number;
  partitionLeaderEpoch?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
}

/**
 * Encodes with KafkaJS's RecordBatch v0 (= magic 2) encoder, as its producer does. KafkaJS
 * takes headers as an object, so duplicate keys must be adjacent to keep their order.
 */
export async function kafkajsEncode(records: KjsRecord[], o: KjsBatchOptions = {}): Promise<Uint8Array> {
  const first = records[0]!.timestamp;
  const max = Math.max(...records.map((r) => r.timestamp));
  const kRecords = records.map((r, i) => {
    const headers: Record<string, Buffer | null | Array<Buffer | null>> = {};
    for (const h of r.headers) {
      const v = buf(h.value);
      const prev = headers[h.key];
      headers[h.key] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    return Record({ offsetDelta: i, timestampDelta: r.timestamp - first, key: buf(r.key), value: buf(r.value), headers });
  });
  const enc = await RecordBatch({
    compression: o.compression ?? 0,
    firstOffset: Long.fromValue(o.baseOffset ?? 0),
    firstTimestamp: first,
    maxTimestamp: max,
    partitionLeaderEpoch: o.partitionLeaderEpoch ?? -1,
    lastOffsetDelta: records.length - 1,
    transactional: o.transactional ?? false,
    producerId: Long.fromValue(o.producerId ?? -1),
    producerEpoch: o.producerEpoch ?? -1,
    firstSequence: o.baseSequence ?? -1,
    records: kRecords,
  });
  const out: Buffer = enc.buffer;
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export interface KjsDecoded {
  firstOffset: string;
  firstTimestamp: string;
  maxTimestamp: string;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  partitionLeaderEpoch: number;
  inTransaction: boolean;
  records: Array<{ offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | null | Array<Buffer | null>> }>;
}

/** Decodes one batch with KafkaJS's RecordBatch decoder (which does not check the CRC). */
export async function kafkajsDecode(bytes: Uint8Array): Promise<KjsDecoded> {
  return batchDecoder(new Decoder(buf(bytes)));
}

export { Encoder as KafkajsEncoder };
