// The single definition of Samsa's AWS resources: the metadata table and the data bucket's
// lifecycle. Plain data (no SDK imports) so that `npm run setup:aws`, the test harness and the
// CDK construct all build the same thing. Key layout is explained in
// docs/design/0002-aws-key-design.md.
import { OBJECT_PREFIXES } from './layout';

export const DEFAULT_BUCKET = 'samsa-data';
export const DEFAULT_TABLE = 'samsa-meta';

/** Object-key prefixes of the storage layout (layout.ts; keys in lib/log/keys.ts). */
export const S3_PREFIXES = OBJECT_PREFIXES;

export const META_TABLE = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  /** On-demand: Samsa's load is bursty and idle most of the time. */
  billingMode: 'PAY_PER_REQUEST',
  /**
   * TTL attribute (epoch seconds): only items-mode commit items carry it (lib/log/commit-items.ts;
   * items.ts COMMIT_TTL_ATTR), days after their records were flushed into segments; DynamoDB's
   * TTL deletes are free where flush's deletes were billed. Nothing else expires by wall time:
   * producer state leaves a head in the conditional write that also fences it, members leave
   * when an instance watched their heartbeat go stale (design note 0002).
   */
  timeToLiveAttribute: 'ttl',
  pointInTimeRecovery: true,
} as const;

export interface LifecycleRuleSpec {
  id: string;
  /** Key prefix the rule applies to ('' = whole bucket). */
  prefix: string;
  expireAfterDays?: number;
  abortIncompleteMultipartUploadAfterDays?: number;
}

export const BUCKET_LIFECYCLE_RULES: readonly LifecycleRuleSpec[] = [
  // An append that crashed between CreateMultipartUpload and Complete leaves billable parts.
  { id: 'samsa-abort-incomplete-multipart', prefix: '', abortIncompleteMultipartUploadAfterDays: 1 },
  // A write-ahead object lives until a flush moves its batches into a segment (seconds to
  // minutes); an unreferenced one is swept by retention after its orphan grace (1 h). Seven
  // days outlasts both with room to spare (test/infra/lifecycle.test.ts holds it above
  // COMMIT_MAX_WAL_AGE_MS + SigV4 validity + orphan grace + a day), so it only bounds a leak
  // if sweeping stops; a flush stalled for days would be alarmed on (flush lag) long before.
  { id: 'samsa-expire-wal', prefix: S3_PREFIXES.wal, expireAfterDays: 7 },
];

export const BUCKET_SECURITY = {
  blockPublicAccess: true,
  /** SSE-S3 with bucket keys: no KMS request charges on every GET/PUT. */
  encryption: 'AES256',
  bucketKeyEnabled: true,
  enforceSsl: true,
} as const;
