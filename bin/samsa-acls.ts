// `samsa acls add|list|remove` and `samsa quotas set|remove|list`: Kafka's kafka-acls and
// kafka-configs --entity-type users, over the admin client. Kept apart from bin/samsa.ts,
// which only registers them.
import readline from 'node:readline';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Admin, AclBinding } from '../lib/client';

const RESOURCE_FLAGS = ['topic', 'group', 'cluster'] as const;
const OPERATIONS: ReadonlyArray<AclBinding['operation']> = ['read', 'write', 'create', 'delete', 'alter', 'describe', 'all'];
/**
 * kafka-acls' --resource-pattern-type: a binding is literal or prefixed; a filter may also be
 * `any` (either, the name taken exactly) or `match` (every binding that applies to the named
 * resource: its literal name, the literal "*", and every prefix of it).
 */
const PATTERN_FILTERS = ['literal', 'prefixed', 'any', 'match'] as const;
type PatternFilter = (typeof PATTERN_FILTERS)[number];

interface AclOpts {
  principal?: string;
  topic?: string;
  group?: string;
  cluster?: boolean;
  prefixed?: boolean;
  resourcePatternType?: PatternFilter;
  operation?: Array<AclBinding['operation']>;
  deny?: boolean;
  output?: 'table' | 'json';
}

function rate(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} takes a positive integer, got "${v}"`);
    return n;
  };
}

/** --operation, repeatable: checked (in any case, as kafka-acls takes Read or READ) before anything is sent. */
function operation(v: string, prev: Array<AclBinding['operation']> = []): Array<AclBinding['operation']> {
  const op = v.trim().toLowerCase() as AclBinding['operation'];
  if (!OPERATIONS.includes(op)) throw new InvalidArgumentError(`"${v}" is not an operation (one of ${OPERATIONS.join(', ')})`);
  return [...prev, op];
}

function patternFilter(v: string): PatternFilter {
  const t = v.trim().toLowerCase() as PatternFilter;
  if (!PATTERN_FILTERS.includes(t)) throw new InvalidArgumentError(`"${v}" is not a pattern type (one of ${PATTERN_FILTERS.join(', ')})`);
  return t;
}

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

/** The pattern type of --prefixed / --resource-pattern-type, `fallback` when neither is given. */
function patternOf(program: Command, o: AclOpts, fallback: PatternFilter): PatternFilter {
  if (o.prefixed && o.resourcePatternType !== undefined && o.resourcePatternType !== 'prefixed') program.error(`--prefixed and --resource-pattern-type ${o.resourcePatternType} contradict each other`, { exitCode: 2 });
  return o.prefixed ? 'prefixed' : (o.resourcePatternType ?? fallback);
}

/** Whether a binding passes a pattern filter for a resource name (undefined: no name given). */
function patternMatches(a: Required<AclBinding>, pattern: PatternFilter, name: string | undefined): boolean {
  if (pattern === 'match') {
    if (name === undefined) return true;
    return a.pattern_type === 'prefixed' ? name.startsWith(a.resource_name) : a.resource_name === name || a.resource_name === '*';
  }
  if (name !== undefined && a.resource_name !== name) return false;
  return pattern === 'any' || a.pattern_type === pattern;
}

/** The bindings a filter selects, as the server lists them and then by pattern, operation and permission. */
async function matching(admin: Admin, o: AclOpts, r: Pick<AclBinding, 'resource_type' | 'resource_name'> | undefined, pattern: PatternFilter): Promise<Required<AclBinding>[]> {
  // A cluster binding is named by the server; only the type narrows it.
  const name = r?.resource_type === 'cluster' ? undefined : r?.resource_name;
  const listed = await admin.describeAcls({
    ...(o.principal ? { principal: o.principal } : {}),
    ...(r ? { resource_type: r.resource_type } : {}),
    // match also needs the literal "*" and the prefixes: those are filtered here.
    ...(name !== undefined && pattern !== 'match' ? { resource_name: name } : {}),
  });
  return listed.filter((a) => patternMatches(a, pattern, name) && (!o.operation || o.operation.includes(a.operation)) && (!o.deny || a.permission === 'deny'));
}

function table(rows: Array<Array<string | number>>): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i]!)).join('  ').trimEnd() + '\n').join('');
}

const aclTable = (list: Required<AclBinding>[]): string =>
  table([['PRINCIPAL', 'RESOURCE-TYPE', 'RESOURCE', 'PATTERN', 'OPERATION', 'PERMISSION'], ...list.map((a) => [a.principal, a.resource_type, a.resource_name, a.pattern_type, a.operation, a.permission])]);

const info = (s: string): void => void process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

/** The user answered no to a confirmation: nothing was done (exit 1). */
export class Declined extends Error {
  constructor() {
    super('declined');
  }
}

/** Asks a yes/no question at the terminal; only y or yes (any case) is yes, end of input is no. */
function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  return new Promise<boolean>((resolve) => {
    rl.once('close', () => resolve(false));
    rl.question(question, (answer) => {
      resolve(/^y(es)?$/i.test(answer.trim()));
      rl.close();
    });
  });
}

const outputOption = () => new Option('-o, --output <format>', 'table (default) or json').choices(['table', 'json']).default('table');

export function registerAccessCommands(program: Command, admin: () => Admin, out: (s: string) => unknown): void {
  const acls = program.command('acls').description('add, list and remove Kafka-style ACLs (needs alter/describe on the cluster)');
  const resourceOptions = (c: Command, patterns: string) =>
    c
      .option('--topic <name>', 'a topic (with --prefixed: every topic starting with it; "*" for all)')
      .option('--group <name>', 'a consumer group (same rules)')
      .option('--cluster', 'the cluster (create topics, administer ACLs and quotas, /metrics)')
      .option('--prefixed', 'match names by prefix (--resource-pattern-type prefixed)')
      .option('--resource-pattern-type <type>', patterns, patternFilter);

  resourceOptions(
    acls
      .command('add')
      .description('allow (or with --deny, deny) a principal operations on a resource')
      .requiredOption('--principal <User:name>', 'who: User:<name>, User:<IAM ARN>, or User:* for everyone')
      .requiredOption('--operation <op>', `${OPERATIONS.join(', ')}, in any case (repeatable)`, operation),
    'literal (default) or prefixed',
  )
    .option('--deny', 'a deny binding (deny wins over any allow)')
    .action(async (o: AclOpts) => {
      const resource = resourceOf(program, o, true)!;
      const pattern = patternOf(program, o, 'literal');
      if (pattern !== 'literal' && pattern !== 'prefixed') program.error(`acls add: a binding's pattern type is literal or prefixed (${pattern} is for list and remove)`, { exitCode: 2 });
      const bindings = o.operation!.map((op) => ({
        principal: o.principal!,
        ...resource,
        pattern_type: pattern,
        operation: op,
        permission: o.deny ? ('deny' as const) : ('allow' as const),
      }));
      await admin().createAcls(bindings);
      out(`Added ${bindings.length} ACL${bindings.length === 1 ? '' : 's'}.\n`);
    });

  resourceOptions(
    acls.command('list').description('list ACLs, optionally for one principal or resource').option('--principal <User:name>', 'only this principal'),
    'literal, prefixed, any (default: both, the name taken exactly) or match (every binding that applies to the named resource)',
  )
    .addOption(outputOption())
    .action(async (o: AclOpts) => {
      const r = resourceOf(program, o, false);
      const list = await matching(admin(), o, r, patternOf(program, o, 'any'));
      out(o.output === 'json' ? `${JSON.stringify(list, null, 2)}\n` : aclTable(list));
    });

  resourceOptions(
    acls
      .command('remove')
      .description('remove the ACLs matching every given field (literal patterns unless --resource-pattern-type says otherwise)')
      .option('--principal <User:name>', 'only this principal')
      .option('--operation <op>', 'only this operation (repeatable)', operation),
    'literal (default, as kafka-acls), prefixed, any (both, the name taken exactly) or match (every binding that applies to the named resource)',
  )
    .option('--deny', 'only deny bindings')
    .option('--force', 'remove without asking (needed when stdin is not a terminal)')
    .action(async (o: AclOpts & { force?: boolean }) => {
      const r = resourceOf(program, o, false);
      if (!o.principal && !r && !o.operation && !o.deny) program.error('acls remove: name at least --principal or a resource (an empty filter would remove every ACL)', { exitCode: 2 });
      const a = admin();
      const found = await matching(a, o, r, patternOf(program, o, 'literal'));
      if (found.length > 0 && !o.force) {
        // As kafka-acls --remove: show what would go, and ask, or insist on --force where no one can answer.
        info(`${found.length === 1 ? 'This ACL matches' : `These ${found.length} ACLs match`}:\n${aclTable(found)}`);
        if (!process.stdin.isTTY) program.error('acls remove: stdin is not a terminal, so there is no one to ask: add --force to remove them', { exitCode: 2 });
        if (!(await confirm(`Remove ${found.length === 1 ? 'this ACL' : `these ${found.length} ACLs`}? [y/N] `))) {
          info('Nothing removed.');
          throw new Declined();
        }
      }
      // Each binding listed is removed by all its fields, so what goes is exactly what was listed.
      let n = 0;
      for (const b of found) n += await a.deleteAcls(b);
      out(`Removed ${n} ACL${n === 1 ? '' : 's'}.\n`);
    });

  const quotas = program.command('quotas').description("set, remove and list principals' quotas (over quota: 429 with Retry-After)");
  quotas
    .command('set')
    .description('replace a principal’s quotas (a rate left out is unlimited)')
    .requiredOption('--principal <User:name>', 'who (User:* sets the default)')
    .option('--producer-byte-rate <bytes/s>', 'produce request bytes per second', rate('--producer-byte-rate'))
    .option('--consumer-byte-rate <bytes/s>', 'fetch and poll response bytes per second', rate('--consumer-byte-rate'))
    .option('--request-rate <n/s>', 'requests per second', rate('--request-rate'))
    .action(async (o: { principal: string; producerByteRate?: number; consumerByteRate?: number; requestRate?: number }) => {
      // With no rate the API removes the quotas: a forgotten flag must not do that silently.
      if (o.producerByteRate === undefined && o.consumerByteRate === undefined && o.requestRate === undefined) {
        program.error('quotas set: give --producer-byte-rate, --consumer-byte-rate or --request-rate (quotas remove takes a principal’s quotas away)', { exitCode: 2 });
      }
      await admin().setQuota({
        principal: o.principal,
        ...(o.producerByteRate !== undefined ? { producer_byte_rate: o.producerByteRate } : {}),
        ...(o.consumerByteRate !== undefined ? { consumer_byte_rate: o.consumerByteRate } : {}),
        ...(o.requestRate !== undefined ? { request_rate: o.requestRate } : {}),
      });
      out(`Set quotas of ${o.principal}.\n`);
    });
  quotas
    .command('remove')
    .description('remove a principal’s quotas (it is then unlimited, or under User:*’s)')
    .requiredOption('--principal <User:name>', 'whose quotas')
    .action(async (o: { principal: string }) => {
      await admin().setQuota({ principal: o.principal });
      out(`Removed the quotas of ${o.principal}.\n`);
    });
  quotas
    .command('list', { isDefault: true })
    .description('list quotas')
    .option('--principal <User:name>', 'only this principal')
    .addOption(outputOption())
    .action(async (o: { principal?: string; output: 'table' | 'json' }) => {
      const qs = await admin().describeQuotas(o.principal);
      if (o.output === 'json') return void out(`${JSON.stringify(qs, null, 2)}\n`);
      const v = (n: number | undefined) => (n === undefined ? '-' : n);
      out(table([['PRINCIPAL', 'PRODUCER-BYTE-RATE', 'CONSUMER-BYTE-RATE', 'REQUEST-RATE'], ...qs.map((q) => [q.principal, v(q.producer_byte_rate), v(q.consumer_byte_rate), v(q.request_rate)])]));
    });
}
