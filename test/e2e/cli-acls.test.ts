// `samsa acls` and `samsa quotas` against the real server: what the CLI adds is what the API
// lists, removal takes a filter, and bad usage exits 2.
import { describe, expect, it } from 'vitest';
import { type CliRun, runSamsa } from '../helpers/cli';
import { sharedServer } from '../helpers/server';

const server = sharedServer();

function samsa(args: string[]): Promise<CliRun> {
  return runSamsa(args, { url: server.url });
}

describe('samsa acls / quotas', () => {
  it('adds, lists and removes ACLs', async () => {
    const add = await samsa(['acls', 'add', '--principal', 'User:orders-team', '--topic', 'orders.', '--prefixed', '--operation', 'read', '--operation', 'describe']);
    expect(add.stderr).toBe('');
    expect(add.stdout).toBe('Added 2 ACLs.\n');
    expect((await samsa(['acls', 'add', '--principal', 'User:ops', '--cluster', '--operation', 'alter', '--deny'])).code).toBe(0);
    const list = await samsa(['acls', 'list', '--principal', 'User:orders-team']);
    expect(list.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/))).toEqual([
      ['PRINCIPAL', 'RESOURCE-TYPE', 'RESOURCE', 'PATTERN', 'OPERATION', 'PERMISSION'],
      ['User:orders-team', 'topic', 'orders.', 'prefixed', 'describe', 'allow'],
      ['User:orders-team', 'topic', 'orders.', 'prefixed', 'read', 'allow'],
    ]);
    const cluster = await (await fetch(`${server.url}/v1/acls?resource_type=cluster`)).json();
    expect(cluster).toEqual({ acls: [{ principal: 'User:ops', resource_type: 'cluster', resource_name: 'samsa-cluster', pattern_type: 'literal', operation: 'alter', permission: 'deny' }] });
    // remove takes literal patterns unless told otherwise (kafka-acls' default).
    expect((await samsa(['acls', 'remove', '--principal', 'User:orders-team', '--operation', 'read', '--force'])).stdout).toBe('Removed 0 ACLs.\n');
    expect((await samsa(['acls', 'remove', '--principal', 'User:orders-team', '--prefixed', '--operation', 'read', '--force'])).stdout).toBe('Removed 1 ACL.\n');
    expect((await samsa(['acls', 'remove', '--principal', 'User:orders-team', '--resource-pattern-type', 'any', '--force'])).stdout).toBe('Removed 1 ACL.\n');
    const empty = await samsa(['acls', 'remove']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/empty filter/);
    expect((await samsa(['acls', 'add', '--principal', 'User:x', '--operation', 'read'])).code).toBe(2);
    const bad = await samsa(['acls', 'add', '--principal', 'nobody', '--topic', 't', '--operation', 'read']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/INVALID_REQUEST|principal/);
  });

  it('sets and lists quotas', async () => {
    expect((await samsa(['quotas', 'set', '--principal', 'User:bulk', '--producer-byte-rate', '102400', '--request-rate', '50'])).stdout).toBe('Set quotas of User:bulk.\n');
    const list = await samsa(['quotas']);
    expect(list.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/))).toEqual([
      ['PRINCIPAL', 'PRODUCER-BYTE-RATE', 'CONSUMER-BYTE-RATE', 'REQUEST-RATE'],
      ['User:bulk', '102400', '-', '50'],
    ]);
    expect((await samsa(['quotas', 'set', '--principal', 'User:bulk', '--request-rate', '0'])).code).toBe(2);
  });
});
