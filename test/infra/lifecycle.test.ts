// The data bucket's lifecycle rules are defined once (lib/storage/aws-resources.ts) and are the
// backstops behind retention: `npm run setup:aws` (lifecycleRules()) and the CDK construct
// must apply exactly that definition, and the write-ahead expiry must outlast any legitimate
// life of a write-ahead object (a commit's retries, then the orphan sweeper's grace).
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SamsaStack } from '../../infra/samsa-stack';
import { COMMIT_MAX_WAL_AGE_MS } from '../../lib/log/commit';
import { DEFAULT_RETENTION_OPTIONS, SIGV4_VALIDITY_MS } from '../../lib/log/retention';
import { lifecycleRules } from '../../lib/storage/aws-provision';
import { BUCKET_LIFECYCLE_RULES, S3_PREFIXES } from '../../lib/storage/aws-resources';

const DAY = 86_400_000;

/** A rule in one shape, whichever API wrote it (S3's PutBucketLifecycleConfiguration or CloudFormation). */
interface Normal {
  id: string;
  prefix: string;
  expireDays?: number;
  abortDays?: number;
}

describe('bucket lifecycle: one definition', () => {
  it('aborts incomplete multipart uploads after a day and expires wal/ after longer than any legitimate write-ahead lifetime', () => {
    const abort = BUCKET_LIFECYCLE_RULES.find((r) => r.abortIncompleteMultipartUploadAfterDays !== undefined);
    expect(abort).toMatchObject({ prefix: '', abortIncompleteMultipartUploadAfterDays: 1 });
    const wal = BUCKET_LIFECYCLE_RULES.find((r) => r.prefix === S3_PREFIXES.wal && r.expireAfterDays !== undefined);
    expect(wal).toBeDefined();
    // An unreferenced write-ahead object is swept after the orphan grace; a commit in flight
    // re-writes one older than COMMIT_MAX_WAL_AGE_MS and must land within SigV4's window.
    // The backstop waits that long plus a day of slack (it only matters if sweeping stops).
    expect(wal!.expireAfterDays! * DAY).toBeGreaterThanOrEqual(COMMIT_MAX_WAL_AGE_MS + SIGV4_VALIDITY_MS + DEFAULT_RETENTION_OPTIONS.orphanGraceMs + DAY);
    // Segments are never expired by lifecycle: retention owns them.
    expect(BUCKET_LIFECYCLE_RULES.filter((r) => r.expireAfterDays !== undefined && !r.prefix.startsWith(S3_PREFIXES.wal))).toEqual([]);
  });

  it('setup:aws and the CDK construct apply exactly those rules', () => {
    const fromSpec: Normal[] = BUCKET_LIFECYCLE_RULES.map((r) => ({
      id: r.id,
      prefix: r.prefix,
      ...(r.expireAfterDays !== undefined ? { expireDays: r.expireAfterDays } : {}),
      ...(r.abortIncompleteMultipartUploadAfterDays !== undefined ? { abortDays: r.abortIncompleteMultipartUploadAfterDays } : {}),
    }));

    const fromSetup: Normal[] = lifecycleRules().map((r) => {
      expect(r.Status).toBe('Enabled');
      return {
        id: r.ID!,
        prefix: r.Filter?.Prefix ?? '',
        ...(r.Expiration?.Days !== undefined ? { expireDays: r.Expiration.Days } : {}),
        ...(r.AbortIncompleteMultipartUpload?.DaysAfterInitiation !== undefined ? { abortDays: r.AbortIncompleteMultipartUpload.DaysAfterInitiation } : {}),
      };
    });
    expect(fromSetup).toEqual(fromSpec);

    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new SamsaStack(app, 'Lifecycle', {});
    const buckets = Object.values(Template.fromStack(stack).findResources('AWS::S3::Bucket')) as Array<{ Properties: { LifecycleConfiguration?: { Rules: Array<Record<string, any>> } } }>;
    const data = buckets.find((b) => b.Properties.LifecycleConfiguration?.Rules.some((r) => String(r['Id']).startsWith('samsa-')));
    expect(data).toBeDefined();
    const fromCdk: Normal[] = data!.Properties.LifecycleConfiguration!.Rules.map((r) => {
      expect(r['Status']).toBe('Enabled');
      return {
        id: r['Id'],
        prefix: r['Prefix'] ?? r['Filter']?.['Prefix'] ?? '',
        ...(r['ExpirationInDays'] !== undefined ? { expireDays: r['ExpirationInDays'] } : {}),
        ...(r['AbortIncompleteMultipartUpload'] !== undefined ? { abortDays: r['AbortIncompleteMultipartUpload']['DaysAfterInitiation'] } : {}),
      };
    });
    expect(fromCdk).toEqual(fromSpec);
  });
});
