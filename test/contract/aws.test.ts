// The storage contracts against the AWS adapters on an emulator: S3ObjectStore and
// DynamoMetaStore on moto (or whatever AWS_ENDPOINT_URL names), and DynamoMetaStore once more
// on DynamoDB Local when it is installed — AWS's own engine, closer to the service than moto.

import { inject } from 'vitest';
import type { MetaStore } from '../../lib/storage/ports.js';
import {
  describeAws,
  describeDynamoLocal,
  makeDynamoStore,
  makeS3Store,
  perSuite,
  type DynamoFixture,
} from '../helpers/aws.js';
import { metaStoreContract } from './meta-store.contract.js';
import { objectStoreContract } from './object-store.contract.js';

/**
 * moto rejects items above 405,000 bytes (a constant in its source), not DynamoDB's 400 KiB
 * (409,600). On moto only, the contract is told the limit moto enforces, so the size-limit
 * tests still check both sides of the boundary; DynamoDB Local (below) checks the real one.
 */
const MOTO_MAX_ITEM_BYTES = 405_000;

function asMotoSeesIt(f: DynamoFixture): { store: MetaStore; cleanup(): Promise<void> } {
  if (!inject('awsEndpointIsMoto')) return f;
  const s = f.store;
  const store: MetaStore = {
    limits: { ...s.limits, maxItemBytes: MOTO_MAX_ITEM_BYTES },
    traits: s.traits,
    get: (k, o) => s.get(k, o),
    query: (q) => s.query(q),
    write: (op) => s.write(op),
    transact: (ops) => s.transact(ops),
  };
  return { store, cleanup: () => f.cleanup() };
}


describeAws('AWS adapters on the emulator', () => {
  objectStoreContract('s3', perSuite(() => makeS3Store()));
  objectStoreContract('s3 with key prefix', perSuite(() => makeS3Store({ prefix: 'tenant-1/' })));
  const dynamo = perSuite(() => makeDynamoStore());
  metaStoreContract('dynamodb', async () => asMotoSeesIt(await dynamo()));
});

describeDynamoLocal('AWS adapters on DynamoDB Local', (endpoint) => {
  metaStoreContract('dynamodb (DynamoDB Local)', perSuite(() => makeDynamoStore({ endpoint: endpoint() })));
});
