// Public face of the records codec: Kafka RecordBatch v2 bytes in and out, CRC32C,
// compression and Kafka's default partitioner. Pure and synchronous (codecsReady aside).

export * from './types.js';
export { Utf8, type RecordBytes } from './utf8.js';
export { crc32c } from './crc32c.js';
export {
  encodeRecordBatch,
  readBatchHeader,
  splitBatches,
  decodeRecordBatch,
  decodeBatches,
  checkRecordCount,
  setBaseOffset,
  setPartitionLeaderEpoch,
  setCreateTimeMaxTimestamp,
  ATTR_CODEC_MASK,
  ATTR_LOG_APPEND_TIME,
  ATTR_TRANSACTIONAL,
  ATTR_CONTROL,
} from './batch.js';
export { batchFrames, batchSize, batchSizeAt, wholeBatchBytes, type BatchFrame } from './frames.js';
export { compress, decompress, codecsReady, MAX_DECOMPRESSED_BYTES } from './compression.js';
export { murmur2, toPositive, defaultPartition } from './partitioner.js';
