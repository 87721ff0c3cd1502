// Where an items-mode commit (lib/log/commit-items.ts) keeps its batch: inline in its commit
// item, or written ahead to an object that the item references. Decided on the price of each,
// per commit, for the item as it will be stored (the batch deflated when that pays: design note
// 0010, point 11), not by feel:
//
//   written ahead: the object's PUT + the flush's GET of it + the item (one write unit, a
//                  reference of ~0.25 KB) and its share of the flush's reads and of storage;
//   inline:        ceil(item KB) write units + the flush's strongly consistent read of the item
//                  (a Query is billed on the summed sizes of the items it returns, 4 KB units)
//                  + the item's storage for as long as it lives (TTL: max(7 days, retention) +
//                  1 day) — and, on topics that keep records forever, its delete, which DynamoDB
//                  bills by the item's size like a write.
//
// On-demand, us-east-1 (2026): write unit $0.625/M, read unit $0.125/M, storage $0.25 per
// GB-month, S3 PUT $5/M and GET $0.40/M. A 7-day topic (items live 8 days): written ahead
// costs ~$6.05/M commits; an 8 KB item $5.00 + 8 × $0.094 = $5.75/M, a 9 KB one $6.47/M: inline
// up to 8 write units (8,192 bytes of item). Longer retention makes items dearer to keep: 6 KB
// at 30 days; topics without TTL pay their items' deletes: 5 KB. Consumers that read a
// partition before it is flushed favour inline further (a Query share of 4 KB units against
// one S3 GET per object per fetch), so leaving them out only makes the threshold cautious.

import { AWS_PRICES } from './aws-prices.js';
import type { ItemLife } from './ports.js';

/** A price list, in dollars per million (requests, units, or KB-days of storage). */
export interface ItemInlinePrices {
  /** One write unit (of the store's `writeUnitBytes`, passed to itemInlineBreakEven). */
  writeUnit: number;
  /** One strongly consistent read unit of `readUnitBytes`. */
  readUnit: number;
  readUnitBytes: number;
  /** Keeping 1 KiB stored for one day. */
  storageKibDay: number;
  /** What a commit written ahead costs besides its item: the object's PUT and the flush's GET. */
  writeAhead: number;
}

const GIB_IN_KIB = 1024 * 1024;
const DAYS_PER_MONTH = 30.4;

/** DynamoDB on-demand and S3 Standard, us-east-1 (per million). */
export const AWS_ON_DEMAND_PRICES: ItemInlinePrices = Object.freeze({
  writeUnit: AWS_PRICES.dynamoWritePerMillion,
  readUnit: AWS_PRICES.dynamoReadPerMillion,
  readUnitBytes: 4096,
  storageKibDay: (AWS_PRICES.dynamoStorageGbMonth * 1e6) / GIB_IN_KIB / DAYS_PER_MONTH,
  writeAhead: AWS_PRICES.s3WritePerMillion + AWS_PRICES.s3ReadPerMillion,
});

/** A write-ahead commit's item: keys, extent fields and the object's key (measured: ~230 bytes). */
const WRITE_AHEAD_ITEM_BYTES = 256;

/** What one commit item of `bytes` costs over its life, in dollars per million commits. */
function itemCost(p: ItemInlinePrices, unitBytes: number, bytes: number, life: ItemLife): number {
  const units = Math.max(1, Math.ceil(bytes / unitBytes));
  return units * p.writeUnit * (life.deleted ? 2 : 1) + (bytes / p.readUnitBytes) * p.readUnit + (bytes / 1024) * p.storageKibDay * life.days;
}

/**
 * The largest commit item (bytes, as the store counts them) that costs no more kept inline than
 * its batch written ahead: a whole number of write units, since a write is billed per started
 * unit.
 */
export function itemInlineBreakEven(p: ItemInlinePrices, unitBytes: number, life: ItemLife): number {
  const writtenAhead = p.writeAhead + itemCost(p, unitBytes, WRITE_AHEAD_ITEM_BYTES, life);
  let units = 1;
  while (units < 1024 && itemCost(p, unitBytes, (units + 1) * unitBytes, life) <= writtenAhead) units++;
  return units * unitBytes;
}
