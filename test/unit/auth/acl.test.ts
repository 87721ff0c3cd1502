// The ACL decision on its own: Kafka's semantics, one rule per test.
import { describe, expect, it } from 'vitest';
import { type AclBinding, allowedOnAny, authorize, CLUSTER_NAME } from '../../../lib/auth/acl';
import { aclSk, bindingFromSk } from '../../../lib/auth/keys';

const allow = (principal: string, resourceType: AclBinding['resourceType'], resourceName: string, operation: AclBinding['operation'], patternType: AclBinding['patternType'] = 'literal'): AclBinding => ({
  principal,
  resourceType,
  resourceName,
  patternType,
  operation,
  permission: 'allow',
});
const deny = (b: AclBinding): AclBinding => ({ ...b, permission: 'deny' });
const none = new Set<string>();
const topic = (name: string) => ({ type: 'topic' as const, name });

describe('authorize', () => {
  it('denies when no ACL matches (allow.everyone.if.no.acl.found=false)', () => {
    expect(authorize([], none, 'User:a', 'read', topic('t'))).toEqual({ allowed: false, reason: 'no_acl' });
    expect(authorize([allow('User:b', 'topic', 't', 'read')], none, 'User:a', 'read', topic('t')).allowed).toBe(false);
  });

  it('matches literal names exactly, prefixed names by prefix, and the literal wildcard everything', () => {
    const acls = [allow('User:a', 'topic', 'orders', 'read'), allow('User:a', 'topic', 'pay.', 'read', 'prefixed')];
    expect(authorize(acls, none, 'User:a', 'read', topic('orders')).allowed).toBe(true);
    expect(authorize(acls, none, 'User:a', 'read', topic('orders2')).allowed).toBe(false);
    expect(authorize(acls, none, 'User:a', 'read', topic('pay.eu')).allowed).toBe(true);
    expect(authorize(acls, none, 'User:a', 'read', topic('pay')).allowed).toBe(false);
    expect(authorize([allow('User:a', 'topic', '*', 'read')], none, 'User:a', 'read', topic('anything')).allowed).toBe(true);
    // A prefixed "*" is a prefix like any other, not a wildcard (as in Kafka).
    expect(authorize([allow('User:a', 'topic', '*', 'read', 'prefixed')], none, 'User:a', 'read', topic('x')).allowed).toBe(false);
  });

  it('keeps resource types apart', () => {
    expect(authorize([allow('User:a', 'group', 'orders', 'read')], none, 'User:a', 'read', topic('orders')).allowed).toBe(false);
  });

  it('applies User:* bindings to everyone', () => {
    expect(authorize([allow('User:*', 'topic', 'public', 'read')], none, 'User:zed', 'read', topic('public')).allowed).toBe(true);
  });

  it('lets a deny win over any allow, including a wildcard principal deny', () => {
    const acls = [allow('User:a', 'topic', 'o', 'all', 'prefixed'), deny(allow('User:*', 'topic', 'orders.us', 'write'))];
    expect(authorize(acls, none, 'User:a', 'write', topic('orders.eu')).allowed).toBe(true);
    expect(authorize(acls, none, 'User:a', 'write', topic('orders.us'))).toEqual({ allowed: false, reason: 'deny_acl' });
    // Denying write leaves read alone.
    expect(authorize(acls, none, 'User:a', 'read', topic('orders.us')).allowed).toBe(true);
  });

  it('implies describe from read, write, delete and alter, but nothing else from anything', () => {
    for (const op of ['read', 'write', 'delete', 'alter'] as const) {
      expect(authorize([allow('User:a', 'topic', 't', op)], none, 'User:a', 'describe', topic('t')).allowed).toBe(true);
    }
    expect(authorize([allow('User:a', 'topic', 't', 'create')], none, 'User:a', 'describe', topic('t')).allowed).toBe(false);
    expect(authorize([allow('User:a', 'topic', 't', 'write')], none, 'User:a', 'read', topic('t')).allowed).toBe(false);
    expect(authorize([allow('User:a', 'topic', 't', 'describe')], none, 'User:a', 'read', topic('t')).allowed).toBe(false);
    // A deny of read does not deny the describe that a write allow implies.
    const acls = [allow('User:a', 'topic', 't', 'write'), deny(allow('User:a', 'topic', 't', 'read'))];
    expect(authorize(acls, none, 'User:a', 'describe', topic('t')).allowed).toBe(true);
    // A deny of all does.
    expect(authorize([allow('User:a', 'topic', 't', 'write'), deny(allow('User:a', 'topic', 't', 'all'))], none, 'User:a', 'describe', topic('t')).allowed).toBe(false);
  });

  it('lets super users through whatever the ACLs say', () => {
    const acls = [deny(allow('User:root', 'topic', '*', 'all'))];
    expect(authorize(acls, new Set(['User:root']), 'User:root', 'delete', topic('t'))).toEqual({ allowed: true, reason: 'super_user' });
  });

  it('answers "write on any topic" for producer ids (KIP-679)', () => {
    expect(allowedOnAny([allow('User:a', 'topic', 'x.', 'write', 'prefixed')], none, 'User:a', 'write', 'topic')).toBe(true);
    expect(allowedOnAny([allow('User:a', 'topic', 'x', 'read')], none, 'User:a', 'write', 'topic')).toBe(false);
    expect(allowedOnAny([allow('User:a', 'topic', 'x', 'write'), deny(allow('User:a', 'topic', '*', 'write'))], none, 'User:a', 'write', 'topic')).toBe(false);
    expect(authorize([allow('User:a', 'cluster', CLUSTER_NAME, 'alter')], none, 'User:a', 'describe', { type: 'cluster', name: CLUSTER_NAME }).allowed).toBe(true);
  });
});

describe('ACL keys', () => {
  it('invert: any binding, whatever characters its names hold, reads back from its sort key', () => {
    const b: AclBinding = { principal: 'User:arn:aws:iam::123456789012:role/a#b', resourceType: 'group', resourceName: 'g"#\\/ü', patternType: 'prefixed', operation: 'read', permission: 'deny' };
    expect(bindingFromSk(aclSk(b))).toEqual(b);
    expect(bindingFromSk('not json')).toBeUndefined();
    expect(bindingFromSk(JSON.stringify(['topic', 'literal', 't', 'User:a', 'fly', 'allow']))).toBeUndefined();
  });
});
