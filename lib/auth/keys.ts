// Metadata keys of access control: ACL bindings, quota settings and the shared quota buckets.
// Kept apart from lib/log/keys.ts (the log's layout) but in the same style: every key built
// and parsed here, nowhere else.
import type { AclBinding } from './acl';
import { OPERATIONS, PATTERN_TYPES, PERMISSIONS, RESOURCE_TYPES } from './acl';
import type { MetaKey } from '../storage/ports';

/** All ACL bindings share one partition key: every instance reads them whole, in one query. */
export const ACLS_PK = 'acls';

/**
 * A binding's sort key is the binding itself, so adding the same binding twice writes the same
 * item (Kafka's CreateAcls is idempotent too). JSON keeps any character of a name unambiguous.
 */
export const aclSk = (b: AclBinding): string => JSON.stringify([b.resourceType, b.patternType, b.resourceName, b.principal, b.operation, b.permission]);
export const aclKey = (b: AclBinding): MetaKey => ({ pk: ACLS_PK, sk: aclSk(b) });

export function bindingFromSk(sk: string): AclBinding | undefined {
  let parts: unknown;
  try {
    parts = JSON.parse(sk);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parts) || parts.length !== 6 || !parts.every((p) => typeof p === 'string')) return undefined;
  const [resourceType, patternType, resourceName, principal, operation, permission] = parts as string[];
  if (
    !(RESOURCE_TYPES as readonly string[]).includes(resourceType!) ||
    !(PATTERN_TYPES as readonly string[]).includes(patternType!) ||
    !(OPERATIONS as readonly string[]).includes(operation!) ||
    !(PERMISSIONS as readonly string[]).includes(permission!)
  ) {
    return undefined;
  }
  return { resourceType, patternType, resourceName, principal, operation, permission } as AclBinding;
}

/** Quota settings: one item per principal (User:* is the default for principals without one). */
export const QUOTAS_PK = 'quotas';
export const quotaKey = (principal: string): MetaKey => ({ pk: QUOTAS_PK, sk: principal });

/** The shared token bucket of one principal and one kind of quota (lib/auth/quota.ts). */
export const QUOTA_BUCKETS_PK = 'quota-buckets';
export const quotaBucketKey = (principal: string, kind: string): MetaKey => ({ pk: QUOTA_BUCKETS_PK, sk: `${kind}#${principal}` });
