// `npx tsx bench/quota-cost.ts`: what quotas add to the DynamoDB bill. A principal with a
// producer_byte_rate quota sends 1 GiB in 1 MiB requests through 1 or 4 API instances
// (QuotaLimiter, lib/auth/quota.ts) that share one bucket item on the emulator; time is a
// ManualClock, so the run takes seconds however slow the rate. Writes are the DynamoDB calls
// the SDK made (lib/storage/aws-clients.ts counts every attempt, failed conditions included —
// DynamoDB bills those too); each is 1 WRU, the bucket item being far below 1 KB.
import { QuotaLimiter } from '../lib/auth/quota';
import { awsConfigFromEnv, awsRequestCounts, makeDynamoClient, resetAwsRequestCounts } from '../lib/storage/aws-clients';
import { ensureTable } from '../lib/storage/aws-provision';
import { DynamoMetaStore } from '../lib/storage/dynamo-meta-store';
import { ManualClock } from '../lib/util/clock';
import { AWS_PRICES } from '../lib/storage/aws-prices';
import { emulator } from './lib';

const WRU_PRICE = AWS_PRICES.dynamoWritePerMillion / 1e6;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

async function main(): Promise<void> {
  const { stop } = await emulator();
  const ddb = makeDynamoClient(awsConfigFromEnv());
  const table = `samsa-quota-cost-${Date.now()}`;
  await ensureTable(ddb, table);
  const store = new DynamoMetaStore({ client: ddb, table });
  console.log('| quota (producer_byte_rate) | instances | offered load | admitted | 429s | DynamoDB writes | writes per GiB admitted | $ per GiB (WRU $0.625/M) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const rateMiB of [10, 100]) {
    for (const instances of [1, 4]) {
      for (const load of [0.9, 3]) {
        const clock = new ManualClock();
        const limiters = Array.from({ length: instances }, () => new QuotaLimiter(store, clock));
        const principal = `User:bench-${rateMiB}-${instances}-${load}-${Date.now()}`;
        const rate = rateMiB * MiB;
        const intervalMs = 1000 / ((rate * load) / MiB); // one 1 MiB request every intervalMs
        resetAwsRequestCounts();
        let admitted = 0;
        let refused = 0;
        for (let i = 0; admitted < GiB; i++) {
          const a = await limiters[i % instances]!.admit(principal, 'producer_byte_rate', rate, MiB);
          if (a.ok) admitted += MiB;
          else refused++;
          clock.advance(intervalMs);
        }
        const writes = awsRequestCounts().dynamodb;
        const perGiB = writes / (admitted / GiB);
        console.log(`| ${rateMiB} MiB/s | ${instances} | ${load}× | ${(admitted / GiB).toFixed(2)} GiB | ${refused} | ${writes} | ${perGiB.toFixed(0)} | ${(perGiB * WRU_PRICE).toFixed(6)} |`);
      }
    }
  }
  stop();
}

await main();
