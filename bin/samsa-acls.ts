// `samsa acls add|list|remove` and `samsa quotas set|list`: Kafka's kafka-acls and
// kafka-configs --entity-type users, over the admin client. Kept apart from bin/samsa.ts,
// which only registers them.
import { type Command, InvalidArgumentError } from 'commander';
import type { Admin, AclBinding } from '../lib/client';

const RESOURCE_FLAGS = ['topic', 'group', 'cluster'] as const;

interface AclOpts {
  principal?: string;
  topic?: string;
  group?: string;
  cluster?: boolean;
  prefixed?: boolean;
  operation?: string[];
  deny?: boolean;
}

function rate(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} takes a positive integer, got "${v}"`);
    return n;
  };
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function resourceOf(program: Command, o: AclOpts, required: boolean): Pick<AclBinding, 'resource_type' | 'resource_name'> | undefined {
  const given = RESOURCE_FLAGS.filter((f) => o[f] !== undefined);
  if (given.length > 1) program.error('give one of --topic, --group, --cluster', { exitCode: 2 });
  if (given.length === 0) {
    if (required) program.error('give one of --topic <name>, --group <name>, --cluster', { exitCode: 2 });
    return undefined;
  }
  const type = given[0]!;
  return type === 'cluster' ? { resource_type: 'cluster' } : { resource_type: type, resource_name: o[type] as string };
}

function table(rows: Array<Array<string | number>>): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i]!)).join('  ').trimEnd() + '\n').join('');
}

export function registerAccessCommands(program: Command, admin: () => Admin, out: (s: string) => unknown): void {
  const acls = program.command('acls').description('add, list and remove Kafka-style ACLs (needs alter/describe on the cluster)');
  const resourceOptions = (c: Command) =>
    c
      .option('--topic <name>', 'a topic (with --prefixed: every topic starting with it; "*" for all)')
      .option('--group <name>', 'a consumer group (same rules)')
      .option('--cluster', 'the cluster (create topics, administer ACLs and quotas, /metrics)')
      .option('--prefixed', 'match names by prefix');

  resourceOptions(
    acls
      .command('add')
      .description('allow (or with --deny, deny) a principal operations on a resource')
      .requiredOption('--principal <User:name>', 'who: User:<name>, User:<IAM ARN>, or User:* for everyone')
      .requiredOption('--operation <op>', 'read, write, create, delete, alter, describe or all (repeatable)', collect),
  )
    .option('--deny', 'a deny binding (deny wins over any allow)')
    .action(async (o: AclOpts) => {
      const resource = resourceOf(program, o, true)!;
      const bindings = o.operation!.map((operation) => ({
        principal: o.principal!,
        ...resource,
        pattern_type: o.prefixed ? ('prefixed' as const) : ('literal' as const),
        operation: operation as AclBinding['operation'],
        permission: o.deny ? ('deny' as const) : ('allow' as const),
      }));
      await admin().createAcls(bindings);
      out(`Added ${bindings.length} ACL${bindings.length === 1 ? '' : 's'}.\n`);
    });

  resourceOptions(acls.command('list').description('list ACLs, optionally for one principal or resource').option('--principal <User:name>', 'only this principal')).action(
    async (o: AclOpts) => {
      const r = resourceOf(program, o, false);
      const list = await admin().describeAcls({ ...(o.principal ? { principal: o.principal } : {}), ...(r ?? {}) });
      out(
        table([
          ['PRINCIPAL', 'RESOURCE-TYPE', 'RESOURCE', 'PATTERN', 'OPERATION', 'PERMISSION'],
          ...list.map((a) => [a.principal, a.resource_type, a.resource_name, a.pattern_type, a.operation, a.permission]),
        ]),
      );
    },
  );

  resourceOptions(
    acls
      .command('remove')
      .description('remove the ACLs matching every given field')
      .option('--principal <User:name>', 'only this principal')
      .option('--operation <op>', 'only this operation', collect),
  )
    .option('--deny', 'only deny bindings')
    .action(async (o: AclOpts) => {
      const r = resourceOf(program, o, false);
      const base: Partial<AclBinding> = {
        ...(o.principal ? { principal: o.principal } : {}),
        ...(r ?? {}),
        ...(o.prefixed ? { pattern_type: 'prefixed' as const } : {}),
        ...(o.deny ? { permission: 'deny' as const } : {}),
      };
      if (Object.keys(base).length === 0 && !o.operation) program.error('acls remove: name at least --principal or a resource (an empty filter would remove every ACL)', { exitCode: 2 });
      let n = 0;
      for (const operation of o.operation ?? [undefined]) n += await admin().deleteAcls({ ...base, ...(operation ? { operation: operation as AclBinding['operation'] } : {}) });
      out(`Removed ${n} ACL${n === 1 ? '' : 's'}.\n`);
    });

  const quotas = program.command('quotas').description("set and list principals' quotas (over quota: 429 with Retry-After)");
  quotas
    .command('set')
    .description('replace a principal’s quotas (a rate left out is unlimited; none at all removes them)')
    .requiredOption('--principal <User:name>', 'who (User:* sets the default)')
    .option('--producer-byte-rate <bytes/s>', 'produce request bytes per second', rate('--producer-byte-rate'))
    .option('--consumer-byte-rate <bytes/s>', 'fetch and poll response bytes per second', rate('--consumer-byte-rate'))
    .option('--request-rate <n/s>', 'requests per second', rate('--request-rate'))
    .action(async (o: { principal: string; producerByteRate?: number; consumerByteRate?: number; requestRate?: number }) => {
      await admin().setQuota({
        principal: o.principal,
        ...(o.producerByteRate !== undefined ? { producer_byte_rate: o.producerByteRate } : {}),
        ...(o.consumerByteRate !== undefined ? { consumer_byte_rate: o.consumerByteRate } : {}),
        ...(o.requestRate !== undefined ? { request_rate: o.requestRate } : {}),
      });
      out(`Set quotas of ${o.principal}.\n`);
    });
  quotas
    .command('list', { isDefault: true })
    .description('list quotas')
    .option('--principal <User:name>', 'only this principal')
    .action(async (o: { principal?: string }) => {
      const qs = await admin().describeQuotas(o.principal);
      const v = (n: number | undefined) => (n === undefined ? '-' : n);
      out(table([['PRINCIPAL', 'PRODUCER-BYTE-RATE', 'CONSUMER-BYTE-RATE', 'REQUEST-RATE'], ...qs.map((q) => [q.principal, v(q.producer_byte_rate), v(q.consumer_byte_rate), v(q.request_rate)])]));
    });
}
