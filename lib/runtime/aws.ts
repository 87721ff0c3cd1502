// AWS-mode wiring (S3 + DynamoDB) with no embedded adapters in its import graph: the Lambda
// handlers build on this module, and `lib/runtime/index.ts` loads it only when SAMSA_STORAGE=aws.
import type { Config } from './config';
import type { EngineOptions } from '../log/engine';
import { type Runtime, runtimeOn, type Stores } from './core';
import { makeDynamoClient, makeS3Client } from '../storage/aws-clients';
import { DynamoMetaStore } from '../storage/dynamo-meta-store';
import type { MetaStore, ObjectStore } from '../storage/ports';
import { S3ObjectStore } from '../storage/s3-object-store';
import type { Clock } from '../util/clock';

export function openAwsStores(cfg: Config): Stores {
  const objects: ObjectStore = new S3ObjectStore({ client: makeS3Client(), bucket: cfg.bucket });
  const meta: MetaStore = new DynamoMetaStore({ client: makeDynamoClient(), table: cfg.table });
  return { meta, objects, close: async () => void (await Promise.all([objects.close?.(), meta.close?.()])) };
}

export async function openAwsEngine(cfg: Config, extra: Partial<EngineOptions> = {}, clock?: Clock): Promise<Runtime> {
  return runtimeOn(cfg, openAwsStores(cfg), clock, extra);
}
