// `npm run setup:aws`: creates Samsa's bucket and table on the configured endpoint (real AWS,
// LocalStack, moto) if missing, and brings their settings in line. Safe to run repeatedly.
//   SAMSA_BUCKET (default samsa-data), SAMSA_TABLE (default samsa-meta),
//   AWS_REGION, AWS_ENDPOINT_URL[_S3|_DYNAMODB], credentials from the usual chain.

import { awsConfigFromEnv, makeDynamoClient, makeS3Client } from '../lib/storage/aws-clients.js';
import { ensureBucket, ensureTable, type StepReport } from '../lib/storage/aws-provision.js';
import { DEFAULT_BUCKET, DEFAULT_TABLE } from '../lib/storage/aws-resources.js';

async function main(): Promise<void> {
  const cfg = awsConfigFromEnv();
  const bucket = process.env.SAMSA_BUCKET || DEFAULT_BUCKET;
  const table = process.env.SAMSA_TABLE || DEFAULT_TABLE;
  const where = cfg.s3Endpoint || cfg.dynamoEndpoint ? ` via ${cfg.s3Endpoint ?? cfg.dynamoEndpoint}` : '';
  console.log(`samsa setup:aws — region ${cfg.region}${where}`);

  const s3 = makeS3Client(cfg);
  const ddb = makeDynamoClient(cfg);
  try {
    print(await ensureBucket(s3, bucket, cfg.region));
    print(await ensureTable(ddb, table));
  } finally {
    s3.destroy();
    ddb.destroy();
  }
  console.log('done');
}

function print(reports: StepReport[]): void {
  for (const r of reports) {
    const line = `  ${r.outcome.padEnd(9)} ${r.step}${r.detail ? ` (${r.detail})` : ''}`;
    if (r.outcome === 'skipped') console.warn(`${line}  ⚠ skipped`);
    else console.log(line);
  }
}

main().catch((err: unknown) => {
  const e = err as Error & { cause?: unknown };
  console.error(`setup:aws failed: ${e.message ?? String(err)}`);
  if (e.cause) console.error('  cause:', (e.cause as Error).message ?? e.cause);
  process.exit(1);
});
