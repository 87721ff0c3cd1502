// Kafka-style ACLs: who (a principal, or User:* for everyone) may perform which operation on
// which resources (a topic, a group or the cluster, named literally or by prefix). Pure: the
// decision is a function of the bindings, so it is tested without storage or HTTP. Semantics
// follow Kafka's StandardAuthorizer: a matching DENY wins over any ALLOW, read/write/delete/
// alter imply describe, super users bypass ACLs, and no matching ACL means denied
// (allow.everyone.if.no.acl.found=false).

export const RESOURCE_TYPES = ['topic', 'group', 'cluster'] as const;
export const PATTERN_TYPES = ['literal', 'prefixed'] as const;
export const OPERATIONS = ['read', 'write', 'create', 'delete', 'alter', 'describe', 'all'] as const;
export const PERMISSIONS = ['allow', 'deny'] as const;

export type ResourceType = (typeof RESOURCE_TYPES)[number];
export type PatternType = (typeof PATTERN_TYPES)[number];
export type Operation = (typeof OPERATIONS)[number];
export type Permission = (typeof PERMISSIONS)[number];

/** The one cluster resource's name (Kafka calls its own "kafka-cluster"). */
export const CLUSTER_NAME = 'samsa-cluster';
/** A literal resource name that matches every resource of its type, as in Kafka. */
export const WILDCARD = '*';
/** The principal of every unauthenticated caller in SAMSA_AUTH=none. */
export const ANONYMOUS = 'User:ANONYMOUS';
/** A binding for this principal applies to everyone. */
export const ANY_PRINCIPAL = 'User:*';

export interface AclBinding {
  principal: string;
  resourceType: ResourceType;
  resourceName: string;
  patternType: PatternType;
  operation: Operation;
  permission: Permission;
}

/** Operations an ALLOW of the key also grants (Kafka: read, write, delete and alter imply describe). */
const IMPLIES: Partial<Record<Operation, Operation[]>> = {
  read: ['describe'],
  write: ['describe'],
  delete: ['describe'],
  alter: ['describe'],
};

export interface Resource {
  type: ResourceType;
  name: string;
}

export type Decision = { allowed: true; reason: 'super_user' | 'allow_acl' } | { allowed: false; reason: 'deny_acl' | 'no_acl' };

function principalMatches(b: AclBinding, principal: string): boolean {
  return b.principal === principal || b.principal === ANY_PRINCIPAL;
}

function resourceMatches(b: AclBinding, r: Resource): boolean {
  if (b.resourceType !== r.type) return false;
  if (b.patternType === 'prefixed') return r.name.startsWith(b.resourceName);
  return b.resourceName === r.name || b.resourceName === WILDCARD;
}

function allowCovers(bindingOp: Operation, op: Operation): boolean {
  return bindingOp === op || bindingOp === 'all' || (IMPLIES[bindingOp]?.includes(op) ?? false);
}

/** A deny names the operation itself (or all): denying read does not deny describe, as in Kafka. */
function denyCovers(bindingOp: Operation, op: Operation): boolean {
  return bindingOp === op || bindingOp === 'all';
}

export function authorize(acls: readonly AclBinding[], superUsers: ReadonlySet<string>, principal: string, op: Operation, resource: Resource): Decision {
  if (superUsers.has(principal)) return { allowed: true, reason: 'super_user' };
  let allowed = false;
  for (const b of acls) {
    if (!principalMatches(b, principal) || !resourceMatches(b, resource)) continue;
    if (b.permission === 'deny') {
      if (denyCovers(b.operation, op)) return { allowed: false, reason: 'deny_acl' };
    } else if (allowCovers(b.operation, op)) {
      allowed = true;
    }
  }
  return allowed ? { allowed: true, reason: 'allow_acl' } : { allowed: false, reason: 'no_acl' };
}

/**
 * Whether the principal holds `op` on at least one resource of the type that no deny takes
 * back entirely. Kafka (KIP-679) lets WRITE on any topic imply IDEMPOTENT_WRITE on the
 * cluster: this is the question it asks when a producer id is requested.
 */
export function allowedOnAny(acls: readonly AclBinding[], superUsers: ReadonlySet<string>, principal: string, op: Operation, type: ResourceType): boolean {
  if (superUsers.has(principal)) return true;
  const mine = acls.filter((b) => principalMatches(b, principal) && b.resourceType === type);
  // A deny on every resource of the type (literal * or the empty prefix) leaves nothing allowed.
  const deniedEverywhere = mine.some(
    (b) => b.permission === 'deny' && denyCovers(b.operation, op) && ((b.patternType === 'literal' && b.resourceName === WILDCARD) || (b.patternType === 'prefixed' && b.resourceName === '')),
  );
  return !deniedEverywhere && mine.some((b) => b.permission === 'allow' && allowCovers(b.operation, op));
}

/** The binding a filter selects: every given field must be equal. */
export interface AclFilter {
  principal?: string;
  resourceType?: ResourceType;
  resourceName?: string;
  patternType?: PatternType;
  operation?: Operation;
  permission?: Permission;
}

export function filterMatches(f: AclFilter, b: AclBinding): boolean {
  return (
    (f.principal === undefined || f.principal === b.principal) &&
    (f.resourceType === undefined || f.resourceType === b.resourceType) &&
    (f.resourceName === undefined || f.resourceName === b.resourceName) &&
    (f.patternType === undefined || f.patternType === b.patternType) &&
    (f.operation === undefined || f.operation === b.operation) &&
    (f.permission === undefined || f.permission === b.permission)
  );
}

/** Kafka principals are `Type:name`; Samsa's are users (or User:* in a binding). */
export const PRINCIPAL_RE = /^User:[^\s,]{1,512}$/;
