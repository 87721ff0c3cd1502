// AWS list prices, us-east-1, in USD (checked 2026), in one place: the items-mode inline
// break-even (item-inline-cost.ts) decides with them, and the benchmarks' cost figures
// (bench/cost.ts, bench/aws-prices.ts, ...) report with them. Per million requests or units,
// so that the figures stay exact decimals.

export const AWS_PRICES = Object.freeze({
  /** S3 Standard PUT, COPY, POST, LIST (every multipart call included), per million requests. */
  s3WritePerMillion: 5.0,
  /** S3 Standard GET, HEAD and the rest, per million requests (DELETE is free). */
  s3ReadPerMillion: 0.4,
  /** DynamoDB on-demand, per million write request units (1 KB each). */
  dynamoWritePerMillion: 0.625,
  /** DynamoDB on-demand, per million read request units (4 KB strongly consistent). */
  dynamoReadPerMillion: 0.125,
  /** DynamoDB Standard table storage, per GB-month. */
  dynamoStorageGbMonth: 0.25,
  /** Lambda, per million invocations. */
  lambdaPerMillion: 0.2,
  /** Lambda on arm64, per GB-second. */
  lambdaArmGbSecond: 0.0000133334,
  /** Kinesis Data Streams on-demand, per GB ingested plus per GB retrieved. */
  kinesisOnDemandPerGb: 0.08 + 0.04,
});

/** S3 operations billed at the write (tier 1) price; those in S3_FREE_OPERATIONS cost nothing; the rest at the read price. */
export const S3_WRITE_OPERATIONS: ReadonlySet<string> = new Set([
  'PutObject', 'CopyObject', 'UploadPart', 'UploadPartCopy', 'CreateMultipartUpload',
  'CompleteMultipartUpload', 'ListObjectsV2', 'ListObjects', 'ListMultipartUploads', 'ListParts',
]);
export const S3_FREE_OPERATIONS: ReadonlySet<string> = new Set(['DeleteObject', 'DeleteObjects', 'AbortMultipartUpload']);

/** The price of one S3 request of operation `cmd` (an SDK command name without "Command"). */
export function s3RequestPrice(cmd: string): number {
  if (S3_FREE_OPERATIONS.has(cmd)) return 0;
  return (S3_WRITE_OPERATIONS.has(cmd) ? AWS_PRICES.s3WritePerMillion : AWS_PRICES.s3ReadPerMillion) / 1e6;
}
