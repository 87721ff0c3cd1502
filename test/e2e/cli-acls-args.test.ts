// `samsa acls` / `samsa quotas` arguments as kafka-acls and kafka-configs take them: operations in
// any case and checked before anything is sent, pattern types on list and remove (remove defaults
// to literal), JSON output, and a quota change that names no rate refused as usage. Each principal
// is a test's own, so the tests share one server.
import { describe, expect, it } from 'vitest';
import { type CliRun, runSamsa } from '../helpers/cli';
import { sharedServer } from '../helpers/server';

const server = sharedServer();

function samsa(args: string[]): Promise<CliRun> {
  return runSamsa(args, { url: server.url });
}

interface Acl {
  principal: string;
  resource_type: string;
  resource_name: string;
  pattern_type: string;
  operation: string;
  permission: string;
}

async function aclsOf(principal: string): Promise<Acl[]> {
  const r = await fetch(`${server.url}/v1/acls?principal=${encodeURIComponent(principal)}`);
  return ((await r.json()) as { acls: Acl[] }).acls;
}

async function add(acl: Partial<Acl> & { principal: string; resource_type: string; operation: string }): Promise<void> {
  const r = await fetch(`${server.url}/v1/acls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(acl) });
  expect(r.status).toBe(201);
}

/** A table's rows (header first) as arrays of cells. */
const rows = (stdout: string): string[][] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/));

describe('samsa acls: operations', () => {
  it('a bad --operation exits 2 with a message and adds nothing, not even the good operations before it', async () => {
    const r = await samsa(['acls', 'add', '--principal', 'User:typo', '--topic', 'orders', '--operation', 'read', '--operation', 'reed']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"reed"/);
    expect(r.stderr).toMatch(/read, write, create, delete, alter, describe/);
    expect(r.stdout).toBe('');
    expect(await aclsOf('User:typo')).toEqual([]);

    await add({ principal: 'User:typo', resource_type: 'topic', resource_name: 'orders', operation: 'read' });
    const rm = await samsa(['acls', 'remove', '--principal', 'User:typo', '--operation', 'raed']);
    expect(rm.code).toBe(2);
    expect(rm.stderr).toMatch(/"raed"/);
    expect(await aclsOf('User:typo')).toHaveLength(1);
  });

  it('takes operation names in any case, as kafka-acls does (Read, READ, read)', async () => {
    const r = await samsa(['acls', 'add', '--principal', 'User:cased', '--topic', 'orders', '--operation', 'Read', '--operation', 'WRITE', '--operation', 'Describe']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Added 3 ACLs.\n');
    expect((await aclsOf('User:cased')).map((a) => a.operation).sort()).toEqual(['describe', 'read', 'write']);
  });
});

describe('samsa acls: pattern types', () => {
  it('acls list --prefixed lists prefixed bindings only; --resource-pattern-type literal|prefixed|any|match filters as kafka-acls', async () => {
    const p = 'User:lister';
    await add({ principal: p, resource_type: 'topic', resource_name: 'pay', operation: 'read' });
    await add({ principal: p, resource_type: 'topic', resource_name: 'pay', pattern_type: 'prefixed', operation: 'write' });
    await add({ principal: p, resource_type: 'topic', resource_name: 'payments', operation: 'describe' });
    await add({ principal: p, resource_type: 'topic', resource_name: '*', operation: 'alter' });
    await add({ principal: p, resource_type: 'topic', resource_name: 'other', pattern_type: 'prefixed', operation: 'delete' });
    const ops = (r: CliRun): string[] => {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return rows(r.stdout)
        .slice(1)
        .map((c) => `${c[2]}/${c[3]}/${c[4]}`)
        .sort();
    };
    expect(ops(await samsa(['acls', 'list', '--principal', p, '--topic', 'pay', '--prefixed']))).toEqual(['pay/prefixed/write']);
    expect(ops(await samsa(['acls', 'list', '--principal', p, '--prefixed']))).toEqual(['other/prefixed/delete', 'pay/prefixed/write']);
    expect(ops(await samsa(['acls', 'list', '--principal', p, '--topic', 'pay', '--resource-pattern-type', 'LITERAL']))).toEqual(['pay/literal/read']);
    expect(ops(await samsa(['acls', 'list', '--principal', p, '--topic', 'pay', '--resource-pattern-type', 'any']))).toEqual(['pay/literal/read', 'pay/prefixed/write']);
    // match: every binding that applies to the topic "payments" (its literal name, the literal *, prefixes of it).
    expect(ops(await samsa(['acls', 'list', '--principal', p, '--topic', 'payments', '--resource-pattern-type', 'match']))).toEqual(['*/literal/alter', 'pay/prefixed/write', 'payments/literal/describe']);
    // Without a pattern type, list shows every pattern type (what the bindings are).
    expect(ops(await samsa(['acls', 'list', '--principal', p, '--topic', 'pay']))).toEqual(['pay/literal/read', 'pay/prefixed/write']);
    const bad = await samsa(['acls', 'list', '--principal', p, '--resource-pattern-type', 'fuzzy']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/literal, prefixed, any, match/);
  });

  it('acls remove takes literal bindings only unless told otherwise, as kafka-acls --remove', async () => {
    const p = 'User:remover';
    await add({ principal: p, resource_type: 'topic', resource_name: 'orders', operation: 'read' });
    await add({ principal: p, resource_type: 'topic', resource_name: 'orders', pattern_type: 'prefixed', operation: 'read' });
    const r = await samsa(['acls', 'remove', '--principal', p, '--topic', 'orders', '--force']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Removed 1 ACL.\n');
    expect((await aclsOf(p)).map((a) => a.pattern_type)).toEqual(['prefixed']);
    const prefixed = await samsa(['acls', 'remove', '--principal', p, '--topic', 'orders', '--resource-pattern-type', 'prefixed', '--force']);
    expect(prefixed.stdout).toBe('Removed 1 ACL.\n');
    expect(await aclsOf(p)).toEqual([]);

    await add({ principal: p, resource_type: 'group', resource_name: 'billing', operation: 'read' });
    await add({ principal: p, resource_type: 'group', resource_name: 'bill', pattern_type: 'prefixed', operation: 'read' });
    await add({ principal: p, resource_type: 'group', resource_name: 'billing', pattern_type: 'prefixed', operation: 'read' });
    expect((await samsa(['acls', 'remove', '--principal', p, '--group', 'billing', '--resource-pattern-type', 'any', '--force'])).stdout).toBe('Removed 2 ACLs.\n');
    expect((await aclsOf(p)).map((a) => `${a.resource_name}/${a.pattern_type}`)).toEqual(['bill/prefixed']);
    expect((await samsa(['acls', 'remove', '--principal', p, '--group', 'billing', '--resource-pattern-type', 'match', '--force'])).stdout).toBe('Removed 1 ACL.\n');
    expect(await aclsOf(p)).toEqual([]);
  });

  it('the server refuses a prefixed ACL on the cluster (Kafka allows only literal there)', async () => {
    const res = await fetch(`${server.url}/v1/acls`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ principal: 'User:clusterish', resource_type: 'cluster', pattern_type: 'prefixed', operation: 'alter' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_code: string }).error_code).toBe('INVALID_REQUEST');
    const cli = await samsa(['acls', 'add', '--principal', 'User:clusterish', '--cluster', '--prefixed', '--operation', 'alter']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/cluster.*literal/);
    expect(await aclsOf('User:clusterish')).toEqual([]);
  });
});

describe('samsa acls / quotas: output and usage', () => {
  it('-o json prints acls list and quotas list as JSON', async () => {
    await add({ principal: 'User:jsonish', resource_type: 'group', resource_name: 'g-', pattern_type: 'prefixed', operation: 'read' });
    const acls = await samsa(['acls', 'list', '--principal', 'User:jsonish', '-o', 'json']);
    expect(acls.code).toBe(0);
    expect(JSON.parse(acls.stdout)).toEqual([{ principal: 'User:jsonish', resource_type: 'group', resource_name: 'g-', pattern_type: 'prefixed', operation: 'read', permission: 'allow' }]);
    expect((await samsa(['quotas', 'set', '--principal', 'User:jsonish', '--consumer-byte-rate', '2048'])).code).toBe(0);
    const quotas = await samsa(['quotas', 'list', '--principal', 'User:jsonish', '-o', 'json']);
    expect(quotas.code).toBe(0);
    expect(JSON.parse(quotas.stdout)).toEqual([{ principal: 'User:jsonish', consumer_byte_rate: 2048 }]);
  });

  it('quotas set without a rate is a usage error that changes nothing; quotas remove takes them away', async () => {
    expect((await samsa(['quotas', 'set', '--principal', 'User:unset', '--request-rate', '7'])).code).toBe(0);
    const r = await samsa(['quotas', 'set', '--principal', 'User:unset']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--producer-byte-rate, --consumer-byte-rate or --request-rate/);
    const still = await (await fetch(`${server.url}/v1/quotas?principal=User:unset`)).json();
    expect(still).toEqual({ quotas: [{ principal: 'User:unset', request_rate: 7 }] });
    const rm = await samsa(['quotas', 'remove', '--principal', 'User:unset']);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toBe('Removed the quotas of User:unset.\n');
    expect(await (await fetch(`${server.url}/v1/quotas?principal=User:unset`)).json()).toEqual({ quotas: [] });
  });
});
