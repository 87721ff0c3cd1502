// AWS request prices, for the benchmarks' cost figures (the product itself prices nothing: a
// store's cost shape is its MetaStore traits, lib/storage/ports.ts).
import { type AwsRequestCounts, awsRequestCounts, DDB_WRITES } from '../lib/storage/aws-clients';

// Request-class prices in us-east-1 (USD, checked 2026): S3 Standard PUT/COPY/POST/LIST
// $0.005 per 1,000, GET and others $0.0004 per 1,000, DELETE free; DynamoDB on-demand
// $0.625 per million write request units, $0.125 per million read request units.
const S3_TIER1 = new Set([
  'PutObject', 'CopyObject', 'UploadPart', 'UploadPartCopy', 'CreateMultipartUpload',
  'CompleteMultipartUpload', 'ListObjectsV2', 'ListObjects', 'ListMultipartUploads', 'ListParts',
]);
const S3_FREE = new Set(['DeleteObject', 'DeleteObjects', 'AbortMultipartUpload']);

/**
 * A rough dollar figure for the counted requests (storage and transfer excluded). DynamoDB
 * units come from ConsumedCapacity when callers asked for it; otherwise each write call is
 * priced as one WRU (two for transactions) and each read as one RRU.
 */
export function estimateAwsRequestCostUsd(c: AwsRequestCounts = awsRequestCounts()): number {
  let usd = 0;
  let wru = 0;
  let rru = 0;
  for (const [key, n] of Object.entries(c.byCommand)) {
    const [svc, cmd = ''] = key.split('.');
    if (svc === 'S3') {
      if (S3_FREE.has(cmd)) continue;
      usd += (n * (S3_TIER1.has(cmd) ? 0.005 : 0.0004)) / 1000;
    } else if (DDB_WRITES.has(cmd)) {
      wru += n * (cmd === 'TransactWriteItems' ? 2 : 1);
    } else if (cmd.endsWith('Item') || cmd === 'Query' || cmd === 'Scan' || cmd === 'TransactGetItems') {
      rru += n;
    }
  }
  if (c.capacity.total > 0) {
    wru = c.capacity.write;
    rru = c.capacity.read;
  }
  return usd + (wru * 0.625) / 1e6 + (rru * 0.125) / 1e6;
}

