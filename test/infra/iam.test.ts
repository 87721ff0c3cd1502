// Each function's role against what its code sends. moto does not enforce IAM, so a missing
// grant passes every emulator test and fails only on AWS, with AccessDenied. Here the requests
// each function's code path makes (functions/*.ts and what they import: the storage port calls
// below, each with the code that makes it) are turned into the IAM actions the adapters'
// requests need, on keys built by lib/log/keys.ts, and checked against the synthesized
// template's Allow statements (actions, resource wildcards, conditions) — both ways: every
// request is allowed, and no function holds an action or a key prefix no request needs.
import fs from 'node:fs';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { SamsaStack } from '../../infra/samsa-stack';
import { chunkObject, newTopicId, partitionPrefix, segmentObject, topicDir, walObject, walPrefix, type TopicObjects } from '../../lib/log/keys';
import { S3_PREFIXES } from '../../lib/storage/aws-resources';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

// --- what the adapters send, per port call ------------------------------------------------------

/** IAM actions of each AWS request the adapters (and the flush hand-off) send. */
const REQUEST_ACTIONS: Record<string, string[]> = {
  // S3 (lib/storage/s3-object-store.ts)
  PutObject: ['s3:PutObject'],
  GetObject: ['s3:GetObject'],
  HeadObject: ['s3:GetObject'],
  DeleteObjects: ['s3:DeleteObject'],
  ListObjectsV2: ['s3:ListBucket'],
  CreateMultipartUpload: ['s3:PutObject'],
  UploadPart: ['s3:PutObject'],
  // PutObject on the target, GetObject on the copy source.
  UploadPartCopy: ['s3:PutObject', 's3:GetObject'],
  CompleteMultipartUpload: ['s3:PutObject'],
  AbortMultipartUpload: ['s3:AbortMultipartUpload'],
  // DynamoDB (lib/storage/dynamo-meta-store.ts). A transaction needs the action of each item.
  GetItem: ['dynamodb:GetItem'],
  BatchGetItem: ['dynamodb:BatchGetItem'],
  Query: ['dynamodb:Query'],
  PutItem: ['dynamodb:PutItem'],
  UpdateItem: ['dynamodb:UpdateItem'],
  DeleteItem: ['dynamodb:DeleteItem'],
  TransactWriteItems: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'],
  // Lambda (lib/runtime/lambda/flush-invoker.ts)
  Invoke: ['lambda:InvokeFunction'],
};

/** The SDK commands a source file imports from @aws-sdk/client-* (statically or with import()). */
function sdkCommands(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:import|const)\s*\{([^}]*)\}\s*(?:from|=\s*await\s+import\()\s*'@aws-sdk\/client-[a-z0-9-]+'/g)) {
    for (const name of m[1]!.split(',').map((s) => s.trim().replace(/^type\s+/, ''))) {
      const cmd = /^(\w+)Command$/.exec(name);
      if (cmd) out.push(cmd[1]!);
    }
  }
  return out;
}
const ADAPTERS = ['lib/storage/s3-object-store.ts', 'lib/storage/dynamo-meta-store.ts', 'lib/runtime/lambda/flush-invoker.ts'];

/** Port call → the requests the AWS adapter makes for it (s3-object-store.ts, dynamo-meta-store.ts). */
const PORT_REQUESTS = {
  'objects.put': ['PutObject'],
  // An empty range HEADs; a 403 HEAD is asked again as a one-byte GET.
  'objects.get': ['GetObject', 'HeadObject'],
  'objects.head': ['HeadObject', 'GetObject'],
  'objects.delete': ['DeleteObjects'],
  'objects.list': ['ListObjectsV2'],
  // keepBytes 0: one PUT; a small kept prefix is read and PUT; a large one composed by
  // multipart upload (UploadPartCopy of the prefix), aborted on failure.
  'objects.append': ['PutObject', 'GetObject', 'HeadObject', 'CreateMultipartUpload', 'UploadPart', 'UploadPartCopy', 'CompleteMultipartUpload', 'AbortMultipartUpload'],
  // Sources HEADed, small ones read; then one PUT or a multipart upload.
  'objects.compose': ['HeadObject', 'GetObject', 'PutObject', 'CreateMultipartUpload', 'UploadPart', 'UploadPartCopy', 'CompleteMultipartUpload', 'AbortMultipartUpload'],
  // No request: the URL's bearer GETs with the function's own credentials.
  'objects.presignGet': ['GetObject'],
  'meta.get': ['GetItem'],
  'meta.batchGet': ['BatchGetItem'],
  'meta.query': ['Query'],
  'meta.put': ['PutItem'],
  'meta.update': ['UpdateItem'],
  'meta.delete': ['DeleteItem'],
  'meta.transact': ['TransactWriteItems'],
  'lambda.invoke': ['Invoke'],
} as const;
type PortCall = keyof typeof PORT_REQUESTS;

// --- what each function's code path calls ------------------------------------------------------

type Fn = 'Api' | 'Flush' | 'Retention';
/** `key`: an object key (object calls), a list prefix (objects.list); absent for the table and the flush function. */
interface Need {
  call: PortCall;
  key?: string;
  /** lambda.invoke: the function invoked. */
  target?: 'Flush' | 'Retention';
  why: string;
}

// A topic with a directory of its own (design note 0012), and one created before that.
const TOPIC: TopicObjects = { name: 'orders', id: newTopicId(Date.UTC(2026, 11, 1)) };
const LEGACY: TopicObjects = { name: 'legacy', id: '1b4e28ba-2fa1-41d2-883f-0016d3cca427' };
const keysOf = (t: TopicObjects) => ({
  segmentLog: segmentObject(t, 0, 0, 'log'),
  segmentIndex: segmentObject(t, 0, 0, 'index'),
  chunkLog: chunkObject(t, 0, 0, 8 << 20, 'log'),
  chunkTimeindex: chunkObject(t, 0, 0, 8 << 20, 'timeindex'),
});
const K = keysOf(TOPIC);
const L = keysOf(LEGACY);
const WAL = walObject(TOPIC.id, 0, '01J0000000000000000000000');

/** S3's answer to a GET/HEAD of a missing key is 404 only with ListBucket (else 403): every function reads not-found. */
const notFoundNeeds: Need[] = [
  { call: 'objects.list', key: `${S3_PREFIXES.topics}${TOPIC.name}/`, why: 'a missing segment or chunk is 404, not 403 (s3-object-store.ts head/get)' },
  { call: 'objects.list', key: WAL, why: 'a missing write-ahead object is 404, not 403' },
];
const tableNeeds = (who: string): Need[] => [
  { call: 'meta.get', why: `${who}: heads, topics, leases` },
  { call: 'meta.query', why: `${who}: extents, catalog, topic list` },
  { call: 'meta.put', why: `${who}: conditional item writes` },
  { call: 'meta.update', why: `${who}: head and lease updates` },
  { call: 'meta.delete', why: `${who}: items it retires` },
  { call: 'meta.transact', why: `${who}: multi-item writes, fenced by ConditionCheck items (groups/store.ts, retention.ts)` },
];

const NEEDS: Record<Fn, Need[]> = {
  Api: [
    ...tableNeeds('API'),
    { call: 'meta.batchGet', why: 'every group poll reads its partitions\' heads in batches (groups/store.ts readHeads, poll.ts)' },
    { call: 'objects.put', key: WAL, why: 'a commit too large to keep inline goes to a write-ahead object first (log/commit.ts)' },
    { call: 'objects.get', key: WAL, why: 'fetches of unflushed batches (log/reader.ts)' },
    ...[K.segmentLog, K.segmentIndex, K.chunkLog, L.segmentLog, L.chunkLog].map((key): Need => ({ call: 'objects.get', key, why: 'fetches read segments, their chunks and indexes (log/reader.ts)' })),
    { call: 'objects.presignGet', key: K.segmentLog, why: 'the segments route hands out presigned GETs (http/segments.ts)' },
    ...notFoundNeeds,
    { call: 'lambda.invoke', target: 'Flush', why: 'busy partitions are handed to the flush function (runtime/lambda/flush-invoker.ts)' },
    { call: 'lambda.invoke', target: 'Retention', why: 'a topic deletion is handed to the retention function (runtime/lambda/deletion-handoff.ts)' },
  ],
  Flush: [
    ...tableNeeds('flush'),
    { call: 'meta.batchGet', why: 'the scheduled pass measures consumer lag from every group\'s heads (runtime/lambda/flush-handler.ts groupLag → groups/admin.ts readHeads)' },
    { call: 'objects.get', key: WAL, why: 'a step reads the write-ahead objects it moves into segments' },
    ...[K.segmentLog, K.segmentIndex, K.chunkLog, K.chunkTimeindex, L.chunkLog].map((key): Need => ({ call: 'objects.get', key, why: 'appends read or copy the kept prefix; composition reads the chunks\' indexes' })),
    ...[K.segmentLog, K.segmentIndex, K.chunkLog, L.segmentLog, L.chunkLog].map((key): Need => ({ call: 'objects.append', key, why: 'a step appends to the active segment or its latest chunk (log/flush.ts write)' })),
    ...[K.segmentLog, L.segmentLog].map((key): Need => ({ call: 'objects.compose', key, why: 'a closed segment written in chunks becomes one object (flush.ts composeSegment, design note 0011)' })),
    { call: 'objects.delete', key: WAL, why: 'write-ahead objects moved into segments go (flush.ts deadWalObjects)' },
    ...[K.chunkLog, K.chunkTimeindex, L.chunkLog].map((key): Need => ({ call: 'objects.delete', key, why: 'chunk objects go once their segment is composed (flush.ts composeSegment)' })),
    ...notFoundNeeds,
  ],
  Retention: [
    ...tableNeeds('retention'),
    ...[WAL, K.segmentLog, K.chunkLog].map((key): Need => ({ call: 'objects.get', key, why: 'composition reads chunks; the sweeper looks at what it lists' })),
    ...[K.segmentLog, L.segmentLog].map((key): Need => ({
      call: 'objects.compose',
      key,
      why: 'a segment the pass seals while written in chunks is composed by flush\'s code in this function (retention.ts composeSealed → flush.ts composeSegment)',
    })),
    ...[K.segmentIndex, L.segmentIndex].map((key): Need => ({ call: 'objects.append', key, why: 'composition rewrites the .index and .timeindex from the chunks\' (flush.ts composeSegment)' })),
    ...[K.segmentLog, K.chunkLog, L.segmentLog, L.chunkTimeindex, WAL].map((key): Need => ({ call: 'objects.delete', key, why: 'expired segments with their chunks, deleted topics, orphans (retention.ts, topic-deletion.ts, orphan-sweeper.ts)' })),
    ...[topicDir(TOPIC), partitionPrefix(LEGACY, 0), walPrefix(TOPIC.id), S3_PREFIXES.wal, S3_PREFIXES.topics].map((key): Need => ({ call: 'objects.list', key, why: 'topic deletion and the orphan sweeper list (topic-deletion.ts, orphan-sweeper.ts)' })),
  ],
};

/** Requests no function may make: the narrow edges of each grant. */
const NEVER: Record<Fn, Array<{ action: string; key: string; why: string }>> = {
  Api: [
    { action: 's3:PutObject', key: K.segmentLog, why: 'only flush and retention write segments' },
    { action: 's3:DeleteObject', key: WAL, why: 'the API deletes nothing' },
  ],
  Flush: [
    { action: 's3:DeleteObject', key: K.segmentLog, why: 'flush deletes chunks and write-ahead objects, never a segment' },
    { action: 's3:DeleteObject', key: L.segmentIndex, why: 'flush deletes chunks and write-ahead objects, never a segment' },
    { action: 's3:PutObject', key: WAL, why: 'write-ahead objects are the API\'s' },
  ],
  Retention: [{ action: 's3:PutObject', key: WAL, why: 'retention writes only composed segments' }],
};

// --- the template, as a small IAM evaluator reads it ---------------------------------------------

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;

/** Fn::GetAtt/Ref/Fn::Join flattened to text: `<LogicalId>.Arn` stands for a resource's ARN. */
function flatten(v: unknown): string {
  if (typeof v === 'string') return v;
  const o = v as Record<string, unknown>;
  if (o['Fn::GetAtt']) return `<${(o['Fn::GetAtt'] as string[])[0]}.${(o['Fn::GetAtt'] as string[])[1]}>`;
  if (o['Ref']) return `<${String(o['Ref'])}>`;
  if (o['Fn::Join']) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(sep);
  }
  throw new Error(`cannot flatten ${JSON.stringify(v)}`);
}
/** IAM's wildcards: `*` any run of characters (slashes too), `?` one character. */
const wildcard = (pattern: string, value: string): boolean =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(value);
const actionMatches = (pattern: string, action: string): boolean => wildcard(pattern.toLowerCase(), action.toLowerCase());

function conditionHolds(cond: Statement['Condition'], context: Record<string, string>): boolean {
  for (const [op, entries] of Object.entries(cond ?? {})) {
    for (const [key, want] of Object.entries(entries)) {
      const have = context[key];
      if (have === undefined) return false;
      const values = [want].flat().map(String);
      if (op === 'StringLike' && !values.some((w) => wildcard(w, have))) return false;
      else if ((op === 'StringEquals' || op === 'Bool') && !values.includes(have)) return false;
      else if (!['StringLike', 'StringEquals', 'Bool'].includes(op)) throw new Error(`condition operator ${op} not understood here`);
    }
  }
  return true;
}

interface Request {
  action: string;
  resource: string;
  context?: Record<string, string>;
}

function allows(statements: Statement[], req: Request): boolean {
  return statements.some(
    (s) =>
      s.Effect === 'Allow' &&
      [s.Action].flat().some((a) => actionMatches(a, req.action)) &&
      [s.Resource].flat().some((r) => wildcard(flatten(r), req.resource)) &&
      conditionHolds(s.Condition, req.context ?? {}),
  );
}

/** With cdk.json's feature flags, as `cdk deploy` synthesizes (@aws-cdk/aws-iam:minimizePolicies merges statements). */
function synthTemplate(): Resources {
  const flags = (JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
  expect(flags['@aws-cdk/aws-iam:minimizePolicies']).toBe(true);
  const app = new App({ context: { ...flags, 'aws:cdk:bundling-stacks': [] } });
  const stack = new SamsaStack(app, 'Iam', {});
  return Template.fromStack(stack).toJSON().Resources as Resources;
}

describe('IAM: each function may make every request its code makes, and no other', () => {
  let resources: Resources;
  let ids: { bucket: string; table: string; flush: string; retention: string };
  const statementsOf = (fn: Fn): Statement[] => {
    const [, f] = Object.entries(resources).find(([, r]) => r.Type === 'AWS::Lambda::Function' && String(r.Properties['Description']).includes(`functions/${fn.toLowerCase()}.ts`))!;
    const role = (f.Properties['Role'] as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
    return Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties['Roles'] as Array<{ Ref: string }>).some((x) => x.Ref === role))
      .flatMap((r) => [r.Properties['PolicyDocument'].Statement].flat() as Statement[]);
  };
  /** The requests behind one need, as IAM sees them. */
  const requestsOf = (need: Need): Request[] => {
    const actions = [...new Set(PORT_REQUESTS[need.call].flatMap((r) => REQUEST_ACTIONS[r]!))];
    if (need.call.startsWith('meta.')) return actions.map((action) => ({ action, resource: `<${ids.table}.Arn>` }));
    if (need.call === 'lambda.invoke') return actions.map((action) => ({ action, resource: `<${need.target === 'Retention' ? ids.retention : ids.flush}.Arn>` }));
    return actions.map((action) =>
      action === 's3:ListBucket'
        ? { action, resource: `<${ids.bucket}.Arn>`, context: { 's3:prefix': need.key! } }
        : { action, resource: `<${ids.bucket}.Arn>/${need.key!}` },
    );
  };

  beforeAll(() => {
    resources = synthTemplate();
    const only = (type: string, pick: (r: Resources[string]) => boolean = () => true) => {
      const found = Object.entries(resources).filter(([, r]) => r.Type === type && pick(r));
      expect(found, type).toHaveLength(1);
      return found[0]![0];
    };
    ids = {
      bucket: only('AWS::S3::Bucket', (r) => JSON.stringify(r.Properties['LifecycleConfiguration'] ?? '').includes('samsa-')),
      table: only('AWS::DynamoDB::Table'),
      flush: only('AWS::Lambda::Function', (r) => String(r.Properties['Description']).includes('functions/flush.ts')),
      retention: only('AWS::Lambda::Function', (r) => String(r.Properties['Description']).includes('functions/retention.ts')),
    };
  });

  it('every AWS request the adapters can send is known here, so a new one needs its action mapped', () => {
    const sent = ADAPTERS.flatMap(sdkCommands);
    expect(sent.length).toBeGreaterThan(15);
    expect(sent.filter((c) => !REQUEST_ACTIONS[c])).toEqual([]);
    expect(new Set(Object.values(PORT_REQUESTS).flat())).toEqual(new Set(sent));
  });

  for (const fn of ['Api', 'Flush', 'Retention'] as const) {
    it(`${fn}: every request of its code path is allowed`, () => {
      const statements = statementsOf(fn);
      const denied = NEEDS[fn].flatMap((need) =>
        requestsOf(need)
          .filter((req) => !allows(statements, req))
          .map((req) => `${req.action} on ${req.resource}${req.context ? ` (${JSON.stringify(req.context)})` : ''}: ${need.call}, ${need.why}`),
      );
      expect(denied).toEqual([]);
    });

    it(`${fn}: nothing beyond that — no action its code never needs, no key its code never touches`, () => {
      const statements = statementsOf(fn).filter((s) => ![s.Action].flat().every((a) => a.startsWith('logs:')));
      const needed = new Set(NEEDS[fn].flatMap(requestsOf).map((r) => r.action));
      expect(new Set(statements.flatMap((s) => [s.Action].flat()))).toEqual(needed);
      const wrong = NEVER[fn].filter((n) => allows(statements, { action: n.action, resource: `<${ids.bucket}.Arn>/${n.key}` })).map((n) => `${n.action} on ${n.key}: ${n.why}`);
      expect(wrong).toEqual([]);
      // Nothing outside Samsa's two prefixes, for any object action it holds.
      for (const action of needed) {
        if (!action.startsWith('s3:') || action === 's3:ListBucket') continue;
        expect(allows(statements, { action, resource: `<${ids.bucket}.Arn>/elsewhere/${S3_PREFIXES.topics}x` }), action).toBe(false);
      }
      expect(allows(statements, { action: 's3:ListBucket', resource: `<${ids.bucket}.Arn>`, context: { 's3:prefix': 'elsewhere/' } })).toBe(false);
    });
  }
});
