// Authentication, authorization and quotas for every route, in ONE middleware, decided from a
// table (method + route → resource, where its name comes from, operation) before any handler
// runs — so a refused request never reaches the engine and changes nothing, and a topic the
// caller may not describe answers 403 whether or not it exists. Also the ACL and quota admin
// routes. The decisions themselves are lib/auth/acl.ts; docs/design/0009-threat-model.md says
// what each mode trusts.
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { type Config, unsafeListenReason } from '../runtime/config';
import { type ErrorCode, SamsaError } from '../errors';
import {
  type AclBinding,
  type AclFilter,
  allowedOnAny,
  authorize,
  CLUSTER_NAME,
  OPERATIONS,
  type Operation,
  PATTERN_TYPES,
  PERMISSIONS,
  PRINCIPAL_RE,
  RESOURCE_TYPES,
  type Resource,
  type ResourceType,
  WILDCARD,
} from '../auth/acl';
import { AclStore } from '../auth/acl-store';
import { anonymousAuthenticator, apiKeyAuthenticator, type Authenticator, type AuthMode, type AuthRequest, lambdaAuthenticator } from '../auth/principal';
import { type QuotaKind, QuotaLimiter, type QuotaSettings, QuotaStore } from '../auth/quota';
import { groupMemberKey, groupMetaKey } from '../log/keys';
import type { Logger } from '../obs/logger';
import type { MetaStore } from '../storage/ports';
import { type Clock, systemClock } from '../util/clock';
import { ErrorBody } from './schemas';

export interface AuthOptions {
  mode: AuthMode;
  authenticate: Authenticator;
  superUsers: ReadonlySet<string>;
  acls: AclStore;
  quotas: QuotaStore;
  limiter: QuotaLimiter;
  /** Read for the topics a group member subscribed to (poll and heartbeat name none). */
  meta: MetaStore;
  clock: Clock;
}

export function authFromConfig(cfg: Config, meta: MetaStore, clock: Clock = systemClock): AuthOptions {
  // iam and jwt both trust only what AWS verified in front of the function (principal.ts).
  const authenticate = cfg.auth === 'keys' ? apiKeyAuthenticator(cfg.apiKeys) : cfg.auth === 'none' ? anonymousAuthenticator : lambdaAuthenticator(cfg.jwtClaim);
  return {
    mode: cfg.auth,
    authenticate,
    superUsers: new Set(cfg.superUsers),
    acls: new AclStore(meta, clock),
    quotas: new QuotaStore(meta, clock),
    limiter: new QuotaLimiter(meta, clock),
    meta,
    clock,
  };
}

export { unsafeListenReason };

// --- the route table --------------------------------------------------------------------------

/** What one route needs: each check must pass (an `or` passes when either side does). */
type Need =
  | { resource: ResourceType; name: NameSource; op: Operation; or?: { resource: ResourceType; name: NameSource; op: Operation } }
  /** KIP-679: WRITE on any topic implies the right to get a producer id. */
  | { anyTopicWrite: true };

/**
 * Context key: bytes a response lets its caller read past this server (presigned S3 URLs of the
 * segments route), charged to consumer_byte_rate with the response's own.
 */
export const CONSUMED_ELSEWHERE = 'consumedElsewhere';

type NameSource = { param: string } | { body: 'name' | 'topic' | 'join.topics' | 'commit.topics' } | { member: true } | { cluster: true };

interface Rule {
  needs: Need[];
  /** Charge request bytes to producer_byte_rate. */
  produce?: boolean;
  /** Charge response bytes to consumer_byte_rate. */
  consume?: boolean;
  /** Keep only the list entries the caller may describe. */
  filter?: 'topics' | 'groups' | 'offsets';
  /**
   * The handler shows only the topics the caller may describe: it gets a predicate as the
   * context's `describableTopic` (where ACLs are checked), for answers it cannot filter after
   * the fact (a group's total lag).
   */
  describableTopics?: true;
}

const P_TOPIC = { param: 'topic' } as const;
const P_GROUP = { param: 'group' } as const;
const CLUSTER = { cluster: true } as const;
const topic = (op: Operation): Need => ({ resource: 'topic', name: P_TOPIC, op });
const group = (op: Operation): Need => ({ resource: 'group', name: P_GROUP, op });
const cluster = (op: Operation): Need => ({ resource: 'cluster', name: CLUSTER, op });

/** Route → operation, as Kafka maps its APIs (issue 16). Keys are `METHOD pattern` as Hono spells patterns. */
export const RULES: Record<string, Rule> = {
  'POST /v1/topics': { needs: [{ resource: 'cluster', name: CLUSTER, op: 'create', or: { resource: 'topic', name: { body: 'name' }, op: 'create' } }] },
  'GET /v1/topics': { needs: [], filter: 'topics' },
  'GET /v1/topics/:topic': { needs: [topic('describe')] },
  'PATCH /v1/topics/:topic': { needs: [topic('alter')] },
  'DELETE /v1/topics/:topic': { needs: [topic('delete')] },
  'POST /v1/topics/:topic/records': { needs: [topic('write')], produce: true },
  'POST /v1/topics/:topic/partitions/:partition/records': { needs: [topic('write')], produce: true },
  'GET /v1/topics/:topic/partitions/:partition/records': { needs: [topic('read')], consume: true },
  'GET /v1/topics/:topic/partitions/:partition/offsets': { needs: [topic('read')] },
  // Its presigned URLs are charged to the consumer quota as it hands them out (CONSUMED_ELSEWHERE).
  'GET /v1/topics/:topic/partitions/:partition/segments': { needs: [topic('read')], consume: true },
  // Embedded mode's stand-in for a presigned S3 URL: the segment bytes themselves.
  'GET /v1/topics/:topic/partitions/:partition/segments/:base/log': { needs: [topic('read')], consume: true },
  'POST /v1/producers': { needs: [{ anyTopicWrite: true }] },
  'GET /v1/groups': { needs: [], filter: 'groups' },
  'GET /v1/groups/:group': { needs: [group('describe')], describableTopics: true },
  'DELETE /v1/groups/:group': { needs: [group('delete')] },
  'POST /v1/groups/:group/members': { needs: [group('read'), { resource: 'topic', name: { body: 'join.topics' }, op: 'read' }] },
  'POST /v1/groups/:group/members/:member_id/heartbeat': { needs: [group('read'), { resource: 'topic', name: { member: true }, op: 'read' }] },
  'DELETE /v1/groups/:group/members/:member_id': { needs: [group('read')] },
  'GET /v1/groups/:group/members/:member_id/records': { needs: [group('read'), { resource: 'topic', name: { member: true }, op: 'read' }], consume: true },
  'POST /v1/groups/:group/offsets': { needs: [group('read'), { resource: 'topic', name: { body: 'commit.topics' }, op: 'read' }] },
  'GET /v1/groups/:group/offsets': { needs: [group('describe')], filter: 'offsets' },
  // Kafka: an offset reset is an OffsetCommit and OffsetDelete needs topic READ too. Without it a
  // caller with delete on its own group learned any topic's existence, partitions and offsets.
  'POST /v1/groups/:group/offsets/reset': { needs: [group('delete'), { resource: 'topic', name: { body: 'topic' }, op: 'read' }] },
  'DELETE /v1/groups/:group/offsets': { needs: [group('delete'), { resource: 'topic', name: { body: 'topic' }, op: 'read' }] },
  'GET /v1/acls': { needs: [cluster('describe')] },
  'POST /v1/acls': { needs: [cluster('alter')] },
  'DELETE /v1/acls': { needs: [cluster('alter')] },
  'GET /v1/quotas': { needs: [cluster('describe')] },
  'PUT /v1/quotas': { needs: [cluster('alter')] },
  'GET /metrics': { needs: [cluster('describe')] },
};

/**
 * Served to anyone, authenticated or not: liveness, the API description, the console's static
 * page and assets (it calls the API with the user's own credential, checked like any other).
 */
export const OPEN_ROUTES: ReadonlySet<string> = new Set([
  'GET /healthz',
  'GET /openapi.json',
  'GET /docs',
  'GET /console',
  'GET /console/',
  'GET /console/app.js',
  'GET /console/app.css',
]);

/**
 * A route that has a handler but no rule (one added later without a row here) is an admin
 * route until someone says otherwise: fail closed.
 */
const UNLISTED: Rule = { needs: [cluster('alter')] };

const ERROR_OF: Record<ResourceType, ErrorCode> = {
  topic: 'TOPIC_AUTHORIZATION_FAILED',
  group: 'GROUP_AUTHORIZATION_FAILED',
  cluster: 'CLUSTER_AUTHORIZATION_FAILED',
};

/**
 * The route that will answer, as Hono spells its pattern (e.g. `/v1/topics/:topic`): the first
 * matched entry that is not middleware — Hono runs handlers in registration order, so a
 * catch-all registered later never shadows the route that answers.
 */
function matchedPattern(c: Context): string | undefined {
  for (const r of c.req.matchedRoutes) if (r.method !== 'ALL') return r.path;
  return undefined;
}

/** Path parameters by the pattern's names, decoded as Hono's router decodes them. */
function paramsOf(pattern: string, path: string): Record<string, string> {
  const names = pattern.split('/');
  const parts = path.split('/');
  const out: Record<string, string> = {};
  names.forEach((n, i) => {
    if (n.startsWith(':') && parts[i] !== undefined) {
      const raw = parts[i]!;
      let v = raw;
      if (raw.includes('%')) {
        try {
          v = decodeURIComponent(raw);
        } catch {
          v = raw;
        }
      }
      out[n.slice(1)] = v;
    }
  });
  return out;
}

/** The JSON body (Hono caches it: the handler's validator reads the same value again). */
async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    // Not JSON: the handler answers the 400/415; the checks that need names from it fall back
    // to denying (an unnamed resource is one the caller holds no ACL for).
    return undefined;
  }
}

/** The request as an authenticator sees it: one small object, no closures (it is made per request). */
class ContextAuthRequest implements AuthRequest {
  constructor(private readonly c: Context) {}
  header(name: string): string | undefined {
    return this.c.req.header(name);
  }
  get lambdaEvent(): unknown {
    return (this.c.env as { event?: unknown } | undefined)?.event;
  }
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

const MEMBER_TOPICS_TTL_MS = 5000;

export function authz(opts: AuthOptions): MiddlewareHandler {
  const enforcing = opts.mode !== 'none';
  const memberTopics = new Map<string, { topics: string[]; at: number }>();

  async function topicsOfMember(groupName: string, memberId: string): Promise<string[]> {
    const key = JSON.stringify([groupName, memberId]);
    const hit = memberTopics.get(key);
    if (hit && opts.clock.now() - hit.at < MEMBER_TOPICS_TTL_MS) return hit.topics;
    // A member's subscription lives in its member item; groups still in the layout before the
    // ownership shards kept it in the group item's roster.
    const own = await opts.meta.get(groupMemberKey(groupName, memberId));
    let topics = strings(own?.['topics']);
    if (topics.length === 0) {
      const item = await opts.meta.get(groupMetaKey(groupName));
      const members = item?.['members'];
      const spec = members && typeof members === 'object' && !Array.isArray(members) ? (members as Record<string, unknown>)[memberId] : undefined;
      topics = strings((spec as { topics?: unknown } | undefined)?.topics);
    }
    if (memberTopics.size > 10_000) memberTopics.clear();
    memberTopics.set(key, { topics, at: opts.clock.now() });
    return topics;
  }

  async function namesOf(c: Context, src: NameSource, params: Record<string, string>): Promise<string[] | undefined> {
    if ('cluster' in src) return [CLUSTER_NAME];
    if ('param' in src) return params[src.param] !== undefined ? [params[src.param]!] : [];
    if ('member' in src) return topicsOfMember(params['group'] ?? '', params['member_id'] ?? '');
    const body = (await jsonBody(c)) as Record<string, unknown> | undefined;
    if (src.body === 'name') return typeof body?.['name'] === 'string' ? [body['name']] : undefined;
    if (src.body === 'topic') return typeof body?.['topic'] === 'string' ? [body['topic']] : [];
    if (src.body === 'join.topics') return strings(body?.['topics']);
    return strings(Array.isArray(body?.['offsets']) ? (body['offsets'] as Array<{ topic?: unknown }>).map((o) => o?.topic) : []);
  }

  const deny = (c: Context, principal: string, op: Operation, r: Resource, reason: string): never => {
    log(c).warn('access denied', { audit: 'authorization', principal, operation: op, resource_type: r.type, resource_name: r.name, decision: 'deny', reason });
    const what = r.type === 'cluster' ? 'the cluster' : `${r.type} "${r.name}"`;
    throw new SamsaError(ERROR_OF[r.type], `${principal} is not authorized to ${op} ${what}`, r.type === 'cluster' ? {} : { [r.type]: r.name });
  };

  async function check(c: Context, principal: string, rule: Rule, params: Record<string, string>): Promise<void> {
    if (!enforcing || opts.superUsers.has(principal)) return;
    const acls = await opts.acls.all();
    for (const need of rule.needs) {
      if ('anyTopicWrite' in need) {
        if (!allowedOnAny(acls, opts.superUsers, principal, 'write', 'topic') && !authorize(acls, opts.superUsers, principal, 'write', { type: 'cluster', name: CLUSTER_NAME }).allowed) {
          deny(c, principal, 'write', { type: 'cluster', name: CLUSTER_NAME }, 'no_acl');
        }
        continue;
      }
      if (need.or) {
        const alt = need.or;
        const first = authorize(acls, opts.superUsers, principal, need.op, { type: need.resource, name: CLUSTER_NAME });
        if (first.allowed) continue;
        const names = await namesOf(c, alt.name, params);
        if (names === undefined || names.length === 0) deny(c, principal, need.op, { type: need.resource, name: CLUSTER_NAME }, first.reason);
        for (const n of names!) {
          const d = authorize(acls, opts.superUsers, principal, alt.op, { type: alt.resource, name: n });
          if (!d.allowed) deny(c, principal, alt.op, { type: alt.resource, name: n }, d.reason);
        }
        continue;
      }
      const names = (await namesOf(c, need.name, params)) ?? [];
      for (const n of names) {
        const r = { type: need.resource, name: n };
        const d = authorize(acls, opts.superUsers, principal, need.op, r);
        if (!d.allowed) deny(c, principal, need.op, r, d.reason);
      }
    }
  }

  async function admit(c: Context, principal: string, q: QuotaSettings | undefined, kind: QuotaKind, amount: number): Promise<void> {
    const rate = q?.[kind];
    if (rate === undefined) return;
    const a = await opts.limiter.admit(principal, kind, rate, amount);
    if (a.ok) return;
    const seconds = Math.max(1, Math.ceil(a.retryAfterMs / 1000));
    c.header('retry-after', String(seconds));
    log(c).info('throttled', { audit: 'quota', principal, quota: kind, limit: rate, retry_after_s: seconds, decision: 'throttle' });
    throw new SamsaError('THROTTLING_QUOTA_EXCEEDED', `${principal} is over its ${kind} quota of ${rate}/s; retry in ${seconds} s`, { quota: kind, retry_after_ms: Math.ceil(a.retryAfterMs) }, true);
  }

  // What a route needs, decided once per route pattern and method rather than per request
  // (issue 18: the key string and table lookups were per-request garbage on the hot path).
  const decided = new Map<string, Map<string, { key: string; rule: Rule; open: boolean }>>();
  const decide = (method: string, pattern: string): { key: string; rule: Rule; open: boolean } => {
    let byMethod = decided.get(pattern);
    if (!byMethod) decided.set(pattern, (byMethod = new Map()));
    let d = byMethod.get(method);
    if (!d) {
      const key = `${method} ${pattern}`;
      // Methods are what callers send: an unknown one is decided afresh, not remembered.
      d = { key, rule: RULES[key] ?? UNLISTED, open: OPEN_ROUTES.has(key) };
      if (byMethod.size < 16) byMethod.set(method, d);
    }
    return d;
  };

  return (c, next) => {
    const pattern = matchedPattern(c);
    // Hono answers HEAD with the GET route: it needs what the GET needs.
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    const route = pattern === undefined ? undefined : decide(method, pattern);
    if (route?.open) return next();

    let principal: string;
    try {
      principal = opts.authenticate(new ContextAuthRequest(c));
    } catch (err) {
      if (err instanceof SamsaError) {
        // The reason names what was missing or wrong, never the credential itself.
        log(c).warn('authentication failed', { audit: 'authentication', decision: 'deny', reason: err.message, method: c.req.method, path: c.req.path });
        c.header('www-authenticate', opts.mode === 'iam' ? 'AWS4-HMAC-SHA256' : 'Bearer realm="samsa"');
      }
      throw err;
    }
    c.set('principal' as never, principal as never);
    if (route === undefined) return next(); // no route: the 404 tells nothing a caller could not guess

    const { key, rule } = route;
    const checked = enforcing && !opts.superUsers.has(principal);
    // The cached quota settings when fresh, without a promise; null when they must be read.
    const cachedQuota = opts.quotas.cachedOf(principal);
    // Nothing to check, charge or rewrite (mode none or a super user, no quota, a route whose
    // answer is not filtered): the request goes on without a promise or a parse of its own here.
    if (!checked && cachedQuota === undefined && !rule.filter && key !== 'POST /v1/topics') return next();
    return guarded(c, next, principal, pattern!, key, rule, checked, cachedQuota);
  };

  async function guarded(c: Context, next: () => Promise<void>, principal: string, pattern: string, key: string, rule: Rule, checked: boolean, cachedQuota: QuotaSettings | undefined | null): Promise<void> {
    if (checked) await check(c, principal, rule, paramsOf(pattern, c.req.path));
    if (checked && rule.describableTopics) {
      const acls = await opts.acls.all();
      c.set('describableTopic' as never, ((name: string) => authorize(acls, opts.superUsers, principal, 'describe', { type: 'topic', name }).allowed) as never);
    }
    const q = cachedQuota === null ? await opts.quotas.of(principal) : cachedQuota;
    if (q) {
      await admit(c, principal, q, 'request_rate', 1);
      if (rule.produce && q.producer_byte_rate !== undefined) {
        const declared = Number(c.req.header('content-length'));
        const bytes = Number.isSafeInteger(declared) && declared >= 0 ? declared : (await c.req.arrayBuffer()).byteLength;
        await admit(c, principal, q, 'producer_byte_rate', bytes);
      }
      // A fetch's size is known only afterwards: refuse while the principal still owes for earlier ones.
      if (rule.consume) await admit(c, principal, q, 'consumer_byte_rate', 0);
    }

    await next();

    // 206: the segment download route (a byte range) serves records as much as a fetch does.
    if (q && rule.consume && q.consumer_byte_rate !== undefined && (c.res.status === 200 || c.res.status === 206)) {
      const declared = Number(c.res.headers.get('content-length'));
      const streaming = (c.res.headers.get('content-type') ?? '').startsWith('text/event-stream');
      // A stream's bytes are not known here; a body without a declared length is measured on a copy.
      const bytes = Number.isSafeInteger(declared) && declared > 0 ? declared : streaming ? 0 : (await c.res.clone().arrayBuffer()).byteLength;
      // And what the response lets the caller read elsewhere (presigned S3 URLs of segments).
      const elsewhere = Number(c.get(CONSUMED_ELSEWHERE as never) ?? 0);
      opts.limiter.charge(principal, 'consumer_byte_rate', bytes + (Number.isSafeInteger(elsewhere) && elsewhere > 0 ? elsewhere : 0));
    }
    if (enforcing && rule.filter && c.res.status === 200) await filterList(c, principal, rule.filter);
    if (enforcing && key === 'POST /v1/topics' && c.res.status === 409) await hideExistence(c, principal);
  }

  /**
   * Lists show only what the caller may describe (Kafka's Metadata and ListGroups do the same;
   * OffsetFetch leaves out topics the caller may not describe, and so does the group's lag).
   */
  async function filterList(c: Context, principal: string, what: 'topics' | 'groups' | 'offsets'): Promise<void> {
    if (opts.superUsers.has(principal)) return;
    const acls = await opts.acls.all();
    const body = (await c.res.json()) as Record<string, unknown>;
    const type: ResourceType = what === 'groups' ? 'group' : 'topic';
    const field = what === 'topics' ? 'name' : what === 'groups' ? 'group' : 'topic';
    const entries = Array.isArray(body[what]) ? (body[what] as Array<Record<string, unknown>>) : [];
    const kept = entries.filter((e) => authorize(acls, opts.superUsers, principal, 'describe', { type, name: String(e[field]) }).allowed);
    body[what] = kept;
    if (what === 'offsets' && typeof body['lag'] === 'number') body['lag'] = kept.reduce((a, e) => a + (typeof e['lag'] === 'number' ? e['lag'] : 0), 0);
    c.res = new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  }

  /** TOPIC_ALREADY_EXISTS would tell a caller without describe that the topic exists (Kafka answers TOPIC_AUTHORIZATION_FAILED). */
  async function hideExistence(c: Context, principal: string): Promise<void> {
    const name = ((await jsonBody(c)) as { name?: unknown } | undefined)?.name;
    if (typeof name !== 'string') return;
    const acls = await opts.acls.all();
    const r: Resource = { type: 'topic', name };
    const d = authorize(acls, opts.superUsers, principal, 'describe', r);
    if (d.allowed) return;
    log(c).warn('access denied', { audit: 'authorization', principal, operation: 'describe', resource_type: 'topic', resource_name: name, decision: 'deny', reason: d.reason });
    const err = new SamsaError('TOPIC_AUTHORIZATION_FAILED', `${principal} is not authorized to describe topic "${name}"`, { topic: name });
    c.set('errorCode' as never, err.code as never);
    c.res = new Response(JSON.stringify(err.toJSON()), { status: 403, headers: { 'content-type': 'application/json' } });
  }
}

function log(c: Context): Logger {
  return c.get('log' as never) as Logger;
}

// --- admin routes: ACLs and quotas ------------------------------------------------------------

const Principal = z.string().regex(PRINCIPAL_RE, 'a principal is User:<name> (User:* for everyone)').openapi({ example: 'User:alice' });
const AclJson = z
  .object({
    principal: Principal,
    resource_type: z.enum(RESOURCE_TYPES),
    resource_name: z.string().min(1).max(1024).optional().openapi({ description: `The topic or group name, or prefix; "${WILDCARD}" (literal) for all. Cluster ACLs name "${CLUSTER_NAME}" (the default).`, example: 'orders.' }),
    pattern_type: z.enum(PATTERN_TYPES).optional().openapi({ description: 'Default literal.' }),
    operation: z.enum(OPERATIONS),
    permission: z.enum(PERMISSIONS).optional().openapi({ description: 'Default allow.' }),
  })
  .strict()
  .openapi('Acl');
const AclOut = z
  .object({
    principal: z.string(),
    resource_type: z.enum(RESOURCE_TYPES),
    resource_name: z.string(),
    pattern_type: z.enum(PATTERN_TYPES),
    operation: z.enum(OPERATIONS),
    permission: z.enum(PERMISSIONS),
  })
  .openapi('AclBinding');
const AclFilterJson = z
  .object({
    principal: Principal.optional(),
    resource_type: z.enum(RESOURCE_TYPES).optional(),
    resource_name: z.string().optional(),
    pattern_type: z.enum(PATTERN_TYPES).optional(),
    operation: z.enum(OPERATIONS).optional(),
    permission: z.enum(PERMISSIONS).optional(),
  })
  .strict()
  .refine((f) => Object.keys(f).length > 0, { message: 'name at least one field: an empty filter would delete every ACL' })
  .openapi('AclFilter');
const AclQuery = z.object({
  principal: z.string().optional().openapi({ param: { name: 'principal', in: 'query' } }),
  resource_type: z.enum(RESOURCE_TYPES).optional().openapi({ param: { name: 'resource_type', in: 'query' } }),
  resource_name: z.string().optional().openapi({ param: { name: 'resource_name', in: 'query' } }),
  pattern_type: z.enum(PATTERN_TYPES).optional().openapi({ param: { name: 'pattern_type', in: 'query' } }),
  operation: z.enum(OPERATIONS).optional().openapi({ param: { name: 'operation', in: 'query' } }),
  permission: z.enum(PERMISSIONS).optional().openapi({ param: { name: 'permission', in: 'query' } }),
});
const Rate = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const QuotaJson = z
  .object({
    principal: Principal,
    producer_byte_rate: Rate.optional().openapi({ description: 'Bytes/s of produce request bodies.' }),
    consumer_byte_rate: Rate.optional().openapi({ description: 'Bytes/s of fetch and poll responses.' }),
    request_rate: Rate.optional().openapi({ description: 'Requests/s, any route.' }),
  })
  .strict()
  .openapi('Quota', { description: 'Replaces the principal’s quotas; a rate left out is unlimited. User:* is the default for principals without their own.' });
const QuotaQuery = z.object({ principal: z.string().optional().openapi({ param: { name: 'principal', in: 'query' } }) });

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const errs = (...codes: Array<[number, string]>) => Object.fromEntries(codes.map(([s, d]) => [s, { description: d, content: { 'application/json': { schema: ErrorBody } } }]));
const AUTH_ERRS: Array<[number, string]> = [
  [401, 'AUTHENTICATION_FAILED'],
  [403, 'CLUSTER_AUTHORIZATION_FAILED'],
];

const toJson = (b: AclBinding) => ({
  principal: b.principal,
  resource_type: b.resourceType,
  resource_name: b.resourceName,
  pattern_type: b.patternType,
  operation: b.operation,
  permission: b.permission,
});

function bindingOf(a: z.infer<typeof AclJson>): AclBinding {
  const name = a.resource_type === 'cluster' ? (a.resource_name ?? CLUSTER_NAME) : a.resource_name;
  if (name === undefined) throw new SamsaError('INVALID_REQUEST', `resource_name is required for a ${a.resource_type} ACL`, { field: 'resource_name' });
  if (a.resource_type === 'cluster' && name !== CLUSTER_NAME) throw new SamsaError('INVALID_REQUEST', `the cluster resource is named "${CLUSTER_NAME}"`, { field: 'resource_name' });
  // As Kafka: the one cluster resource is named, never matched by prefix.
  if (a.resource_type === 'cluster' && a.pattern_type === 'prefixed') throw new SamsaError('INVALID_REQUEST', 'a cluster ACL is literal: the cluster takes no prefixed pattern', { field: 'pattern_type' });
  return { principal: a.principal, resourceType: a.resource_type, resourceName: name, patternType: a.pattern_type ?? 'literal', operation: a.operation, permission: a.permission ?? 'allow' };
}

function filterOf(f: { principal?: string; resource_type?: ResourceType; resource_name?: string; pattern_type?: AclBinding['patternType']; operation?: Operation; permission?: AclBinding['permission'] }): AclFilter {
  return {
    ...(f.principal !== undefined ? { principal: f.principal } : {}),
    ...(f.resource_type !== undefined ? { resourceType: f.resource_type } : {}),
    ...(f.resource_name !== undefined ? { resourceName: f.resource_name } : {}),
    ...(f.pattern_type !== undefined ? { patternType: f.pattern_type } : {}),
    ...(f.operation !== undefined ? { operation: f.operation } : {}),
    ...(f.permission !== undefined ? { permission: f.permission } : {}),
  };
}

export function mountAclRoutes(app: OpenAPIHono, opts: AuthOptions): void {
  const tags = ['access control'];
  const who = (c: Context): string => (c.get('principal' as never) as string | undefined) ?? 'User:ANONYMOUS';

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/acls',
      tags,
      summary: 'Add an ACL binding (needs alter on the cluster)',
      request: { body: { required: true, content: { 'application/json': { schema: AclJson } } } },
      responses: { 201: json(AclOut, 'Added (adding an existing binding again changes nothing)'), ...errs([400, 'INVALID_REQUEST'], ...AUTH_ERRS) },
    }),
    async (c) => {
      const b = bindingOf(c.req.valid('json'));
      const added = await opts.acls.add(b);
      log(c).info('acl change', { audit: 'acl', principal: who(c), change: 'add', binding: toJson(b), new: added, decision: 'applied' });
      return c.json(toJson(b), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/acls',
      tags,
      summary: 'List ACL bindings (needs describe on the cluster)',
      request: { query: AclQuery },
      responses: { 200: json(z.object({ acls: z.array(AclOut) }).openapi('AclList'), 'Bindings matching every given field'), ...errs(...AUTH_ERRS) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json({ acls: (await opts.acls.list(filterOf(q))).map(toJson) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/acls',
      tags,
      summary: 'Delete the ACL bindings a filter selects (needs alter on the cluster)',
      request: { body: { required: true, content: { 'application/json': { schema: AclFilterJson } } } },
      responses: { 200: json(z.object({ deleted: z.number().int() }).openapi('AclsDeleted'), 'How many were deleted'), ...errs([400, 'INVALID_REQUEST'], ...AUTH_ERRS) },
    }),
    async (c) => {
      const f = c.req.valid('json');
      const removed = await opts.acls.remove(filterOf(f));
      log(c).info('acl change', { audit: 'acl', principal: who(c), change: 'remove', filter: f, deleted: removed.length, bindings: removed.slice(0, 50).map(toJson), decision: 'applied' });
      return c.json({ deleted: removed.length }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/quotas',
      tags,
      summary: 'Set a principal’s quotas (needs alter on the cluster)',
      description: 'Over quota, requests answer 429 THROTTLING_QUOTA_EXCEEDED with Retry-After (seconds). Enforced across instances through a shared token bucket.',
      request: { body: { required: true, content: { 'application/json': { schema: QuotaJson } } } },
      responses: { 200: json(QuotaJson, 'The principal’s quotas now'), ...errs([400, 'INVALID_REQUEST'], ...AUTH_ERRS) },
    }),
    async (c) => {
      const q = c.req.valid('json');
      await opts.quotas.put(q);
      log(c).info('quota change', { audit: 'quota', principal: who(c), change: 'set', quota: q, decision: 'applied' });
      return c.json(q, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/quotas',
      tags,
      summary: 'List quotas (needs describe on the cluster)',
      request: { query: QuotaQuery },
      responses: { 200: json(z.object({ quotas: z.array(QuotaJson) }).openapi('QuotaList'), 'Quotas'), ...errs(...AUTH_ERRS) },
    }),
    async (c) => {
      const p = c.req.valid('query').principal;
      const all = await opts.quotas.list();
      return c.json({ quotas: p === undefined ? all : all.filter((q) => q.principal === p) }, 200);
    },
  );
}
