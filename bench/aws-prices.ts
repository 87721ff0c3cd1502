// A rough dollar figure for counted AWS requests, for the benchmarks. The prices are the
// product's one list (lib/storage/aws-prices.ts), which the items-mode inline decision also uses.
import { type AwsRequestCounts, awsRequestCounts, DDB_WRITES } from '../lib/storage/aws-clients';
import { AWS_PRICES, s3RequestPrice } from '../lib/storage/aws-prices';

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
      usd += n * s3RequestPrice(cmd);
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
  return usd + (wru * AWS_PRICES.dynamoWritePerMillion) / 1e6 + (rru * AWS_PRICES.dynamoReadPerMillion) / 1e6;
}

