// SamsaLog: everything one Samsa deployment needs — the data bucket, the metadata table, the
// API / flush / retention functions, their schedules, an authenticated HTTP entry point, alarms
// and a dashboard. Secure defaults live in SAMSA_DEFAULTS, in one place; props are merged as
// defaults → user → required (what Samsa cannot work without), in the manner of AWS Solutions
// Constructs, and invalid props are reported together. Resource shapes (key schema, lifecycle
// rules, encryption) come from lib/storage/aws-resources.ts, shared with `npm run setup:aws`.
import path from 'node:path';
import { DefaultStackSynthesizer, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { FLUSH_STEP_MARGIN_MS } from '../lib/log/flush';
import { DEFAULT_LEASE_MS } from '../lib/log/lease';
import { DEFAULT_RETENTION_OPTIONS } from '../lib/log/retention';
import { METRICS_NAMESPACE } from '../lib/obs/emf';
import { BUCKET_LIFECYCLE_RULES, BUCKET_SECURITY, META_TABLE, S3_PREFIXES } from '../lib/storage/aws-resources';
import { bundlingOptions, PROJECT_ROOT } from './bundling';

export interface FunctionSettings {
  /** MiB. */
  memorySize?: number;
  timeout?: Duration;
  /**
   * Reserved concurrency: caps this function (a throttle) and guarantees it capacity. The API
   * reserves SAMSA_DEFAULTS.api.reservedConcurrency by default, so long polls (each holds an
   * instance up to 60 s) cannot take the whole account pool and starve the flush function;
   * 'none' leaves a function unreserved (needed on accounts whose quota is still 10, where any
   * reservation fails the deploy). Flush and retention are unreserved unless asked.
   */
  reservedConcurrency?: number | 'none';
}

export type SamsaAuth =
  /** Default: a Lambda Function URL with AuthType AWS_IAM — every request is SigV4-signed. */
  | { type: 'iam' }
  /**
   * An API Gateway HTTP API whose routes require a JWT from `issuer` (Cognito, Auth0, Okta...)
   * with one of `audience`. Adds API Gateway's request charge and its 30 s integration limit.
   */
  | { type: 'jwt'; issuer: string; audience: string[]; throttle?: { rateLimit: number; burstLimit: number } };

export interface SamsaLogProps {
  /** Default { type: 'iam' }. Never public. */
  auth?: SamsaAuth;
  /**
   * Principals allowed to call the IAM-authenticated Function URL: lambda:InvokeFunctionUrl, and
   * lambda:InvokeFunction (required of Function URL callers since October 2025) only under the
   * condition lambda:InvokedViaFunctionUrl = true — a direct invoke could claim any identity
   * (docs/design/0009-threat-model.md).
   */
  invokers?: iam.IGrantable[];
  /**
   * The Function URL's invoke mode (IAM auth only; API Gateway is always buffered). Default
   * RESPONSE_STREAM: binary fetches without base64 (4.4 MB of batches per response buffered,
   * ~5.9 MB streamed: AWS streams the first 6 MB at full speed, the rest at 2 MB/s), and live
   * tails (SSE). Requests are 6 MB
   * either way. docs/limits.md, "Runtime limits".
   */
  invokeMode?: 'BUFFERED' | 'RESPONSE_STREAM';
  /**
   * Kafka-style ACLs on every request (docs/design/0009-threat-model.md). Default true: an
   * invoker holds only what ACLs grant it. False: every invoker may do everything.
   */
  authorization?: boolean;
  /**
   * Principals that bypass ACLs and administer them: `User:<IAM ARN>` (roles as
   * arn:aws:iam::<account>:role/<name>, whatever the session), or `User:<claim>` with JWT.
   * Default: the CDK deploy role of the stack's bootstrap (IAM auth), none with JWT.
   *
   * To let a team read every `orders.*` topic, a super user adds (with `samsa acls add` or
   * POST /v1/acls) `{"principal":"User:arn:aws:iam::<account>:role/OrdersTeam",
   * "resource_type":"topic","pattern_type":"prefixed","resource_name":"orders.",
   * "operation":"read"}` — and, to consume through a group, read on that group too — then
   * lists the role in `invokers` so it may call the URL at all.
   */
  superUsers?: string[];
  /** Bucket and table on stack deletion. Default RETAIN: the log is data. */
  removalPolicy?: RemovalPolicy;
  /** DynamoDB deletion protection. Default true. */
  tableDeletionProtection?: boolean;
  /** S3 server access logs into a dedicated log bucket. Default true. */
  serverAccessLogs?: boolean;
  api?: FunctionSettings;
  flush?: FunctionSettings & {
    /** Flush pass over every partition. Default every minute. */
    schedule?: Duration;
    /** Hand a partition to the flush function once an API instance committed this many bytes to it. Default 32 MiB. */
    triggerBytes?: number;
    /** The window, per API instance. Default 5 s. */
    triggerWindow?: Duration;
  };
  retention?: FunctionSettings & { /** Default every 15 minutes. */ schedule?: Duration };
  /** Function log retention. Default one month. */
  logRetention?: logs.RetentionDays;
  /** Alarm when a flush pass leaves more than this many records unflushed (3 periods of 5 min). Default 100000. */
  flushLagAlarmRecords?: number;
  /**
   * Alarm when the oldest record some consumer group has not consumed is older than this
   * (seconds, measured by each scheduled flush pass). Default 3600.
   */
  consumerLagAlarmSeconds?: number;
  /** Where alarms go (an SNS action, say). Default none: the alarms still show on the dashboard. */
  alarmActions?: cloudwatch.IAlarmAction[];
}

/** The secure defaults, in one place (docs/design/0006-deployment.md explains the numbers). */
export const SAMSA_DEFAULTS = {
  auth: { type: 'iam' } as SamsaAuth,
  invokeMode: 'RESPONSE_STREAM' as 'BUFFERED' | 'RESPONSE_STREAM',
  authorization: true,
  removalPolicy: RemovalPolicy.RETAIN,
  tableDeletionProtection: true,
  serverAccessLogs: true,
  logRetention: logs.RetentionDays.ONE_MONTH,
  flushLagAlarmRecords: 100_000,
  consumerLagAlarmSeconds: 3600,
  // API: CPU scales with memory; 1 GiB keeps CRC32C/compression and cold starts quick. The
  // timeout covers the longest long poll (wait_ms ≤ 60 s) plus the request around it.
  api: { memorySize: 1024, timeout: Duration.seconds(70), reservedConcurrency: 100 } as FunctionSettings & { memorySize: number; timeout: Duration },
  // Flush moves up to 32 MiB per step into segments; several steps per invocation. The API
  // hands a partition to it once an instance committed 32 MiB there (one full step): each
  // flush extends the segment objects at a fixed request cost, so smaller hand-offs cost more
  // than the data (bench/RESULTS.md, steady-state flush rows).
  flush: { memorySize: 1024, timeout: Duration.minutes(5), schedule: Duration.minutes(1), triggerBytes: 32 * 1024 * 1024, triggerWindow: Duration.seconds(5) },
  // Retention lists and deletes; it is I/O bound and bounded per pass by its own deadline.
  retention: { memorySize: 512, timeout: Duration.minutes(5), schedule: Duration.minutes(15) },
  jwtThrottle: { rateLimit: 1000, burstLimit: 2000 },
} as const;

/**
 * A retention pass stops starting work when its budget is spent, and finishes the partition it
 * holds then within the lease it took for it (lib/log/retention.ts runOnce, lib/log/lease.ts).
 * Cut off sooner, a pass that uses its budget times out before it stores its cursor, and the
 * next pass starts from the same place.
 */
const RETENTION_MIN_TIMEOUT_MS = DEFAULT_RETENTION_OPTIONS.budgetMs + DEFAULT_LEASE_MS;

/**
 * A flush pass stops starting steps FLUSH_STEP_MARGIN_MS before its invocation's timeout (one
 * step and the report must fit after the deadline: lib/log/flush.ts). A timeout of at least
 * twice that leaves the pass at least as long for its steps.
 */
const FLUSH_MIN_TIMEOUT_MS = 2 * FLUSH_STEP_MARGIN_MS;

type Sized = FunctionSettings & { memorySize: number; timeout: Duration };
type Resolved = Required<Omit<SamsaLogProps, 'invokers' | 'alarmActions' | 'api' | 'flush' | 'retention' | 'superUsers'>> & {
  invokers: iam.IGrantable[];
  superUsers: string[] | undefined;
  alarmActions: cloudwatch.IAlarmAction[];
  api: Sized;
  flush: Sized & { schedule: Duration; triggerBytes: number; triggerWindow: Duration };
  retention: Sized & { schedule: Duration };
};

export function resolveProps(props: SamsaLogProps = {}): Resolved {
  const r: Resolved = {
    auth: props.auth ?? SAMSA_DEFAULTS.auth,
    invokeMode: props.invokeMode ?? SAMSA_DEFAULTS.invokeMode,
    invokers: props.invokers ?? [],
    authorization: props.authorization ?? SAMSA_DEFAULTS.authorization,
    superUsers: props.superUsers,
    removalPolicy: props.removalPolicy ?? SAMSA_DEFAULTS.removalPolicy,
    tableDeletionProtection: props.tableDeletionProtection ?? SAMSA_DEFAULTS.tableDeletionProtection,
    serverAccessLogs: props.serverAccessLogs ?? SAMSA_DEFAULTS.serverAccessLogs,
    logRetention: props.logRetention ?? SAMSA_DEFAULTS.logRetention,
    flushLagAlarmRecords: props.flushLagAlarmRecords ?? SAMSA_DEFAULTS.flushLagAlarmRecords,
    consumerLagAlarmSeconds: props.consumerLagAlarmSeconds ?? SAMSA_DEFAULTS.consumerLagAlarmSeconds,
    alarmActions: props.alarmActions ?? [],
    api: { ...SAMSA_DEFAULTS.api, ...definedOnly(props.api) },
    flush: { ...SAMSA_DEFAULTS.flush, ...definedOnly(props.flush) },
    retention: { ...SAMSA_DEFAULTS.retention, ...definedOnly(props.retention) },
  };
  const problems: string[] = [];
  for (const name of ['api', 'flush', 'retention'] as const) {
    const f = r[name];
    if (!Number.isInteger(f.memorySize) || f.memorySize < 128 || f.memorySize > 10240) problems.push(`${name}.memorySize must be an integer in 128..10240 MiB`);
    if (f.timeout.toSeconds() < 1 || f.timeout.toSeconds() > 900) problems.push(`${name}.timeout must be within 1 s..15 min`);
    if (f.reservedConcurrency !== undefined && f.reservedConcurrency !== 'none' && (!Number.isInteger(f.reservedConcurrency) || f.reservedConcurrency < 1)) {
      problems.push(`${name}.reservedConcurrency must be a positive integer (0 would disable the function)`);
    }
  }
  if (r.api.timeout.toSeconds() < 65) problems.push('api.timeout must be at least 65 s: a long poll may wait 60 s');
  if (r.retention.timeout.toMilliseconds() < RETENTION_MIN_TIMEOUT_MS) {
    problems.push(`retention.timeout must be at least ${RETENTION_MIN_TIMEOUT_MS / 1000} s: a pass starts work for ${DEFAULT_RETENTION_OPTIONS.budgetMs / 1000} s and finishes the partition it holds then within its ${DEFAULT_LEASE_MS / 1000} s lease`);
  }
  if (r.flush.timeout.toMilliseconds() < FLUSH_MIN_TIMEOUT_MS) {
    problems.push(`flush.timeout must be at least ${FLUSH_MIN_TIMEOUT_MS / 1000} s: a pass stops starting steps ${FLUSH_STEP_MARGIN_MS / 1000} s before the timeout, to finish its last step and write its metrics`);
  }
  for (const [name, d] of [['flush.schedule', r.flush.schedule], ['retention.schedule', r.retention.schedule]] as const) {
    if (d.toMinutes({ integral: false }) < 1) problems.push(`${name} must be at least 1 minute (EventBridge's finest rate)`);
  }
  if (r.flush.triggerWindow.toMilliseconds() < 100) problems.push('flush.triggerWindow must be at least 100 ms');
  if (!Number.isInteger(r.flush.triggerBytes) || r.flush.triggerBytes < 0) problems.push('flush.triggerBytes must be a non-negative integer');
  if (r.auth.type === 'jwt') {
    if (!/^https:\/\//.test(r.auth.issuer)) problems.push('auth.issuer must be an https:// URL');
    if (r.auth.audience.length === 0) problems.push('auth.audience needs at least one audience');
    if (r.invokers.length > 0) problems.push('invokers apply to the IAM Function URL; with auth.type "jwt" grant access through the identity provider');
    // API Gateway's HTTP API buffers every response: asked for explicitly, streaming would be dropped without a word.
    if (props.invokeMode === 'RESPONSE_STREAM') problems.push('invokeMode RESPONSE_STREAM needs the IAM Function URL; with auth.type "jwt" (API Gateway) responses are buffered: leave invokeMode out or set BUFFERED');
    const t = r.auth.throttle;
    if (t && !(Number.isFinite(t.rateLimit) && t.rateLimit > 0)) problems.push('auth.throttle.rateLimit must be a positive number (requests per second)');
    if (t && !(Number.isInteger(t.burstLimit) && t.burstLimit > 0)) problems.push('auth.throttle.burstLimit must be a positive integer');
  }
  for (const u of r.superUsers ?? []) if (!/^User:[^\s,]+$/.test(u)) problems.push(`superUsers entries look like User:<IAM ARN or JWT claim>, got "${u}"`);
  if (!r.authorization && r.superUsers !== undefined) problems.push('superUsers have nothing to bypass with authorization: false (every invoker may do everything): drop one of the two');
  // Removal: CloudFormation takes snapshots of neither a bucket nor this table, and deletion
  // protection makes a DESTROY fail on the table.
  if (r.removalPolicy === RemovalPolicy.SNAPSHOT) problems.push('removalPolicy SNAPSHOT is not supported by S3 buckets or this DynamoDB table: use RETAIN (default), RETAIN_ON_UPDATE_OR_DELETE or DESTROY');
  if (r.removalPolicy === RemovalPolicy.DESTROY && r.tableDeletionProtection) {
    problems.push('removalPolicy DESTROY needs tableDeletionProtection: false (deletion protection, on by default, makes the stack deletion fail on the table)');
  }
  for (const [name, v] of [['flushLagAlarmRecords', r.flushLagAlarmRecords], ['consumerLagAlarmSeconds', r.consumerLagAlarmSeconds]] as const) {
    if (!(Number.isFinite(v) && v > 0)) problems.push(`${name} must be a positive number, got ${v}`);
  }
  if (problems.length > 0) throw new Error(`SamsaLog: invalid props:\n  - ${problems.join('\n  - ')}`);
  return r;
}

export class SamsaLog extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogBucket?: s3.Bucket;
  readonly table: dynamodb.Table;
  readonly apiFunction: NodejsFunction;
  readonly flushFunction: NodejsFunction;
  readonly retentionFunction: NodejsFunction;
  /** The HTTPS endpoint: the Function URL (IAM) or the HTTP API's URL (JWT). */
  readonly apiUrl: string;
  readonly functionUrl?: lambda.FunctionUrl;
  readonly httpApi?: apigw.HttpApi;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: SamsaLogProps = {}) {
    super(scope, id);
    const p = resolveProps(props);
    // Server access logs are delivered by a bucket policy, not the legacy LogDeliveryWrite ACL
    // (which needs ACLs enabled on the log bucket), whatever the enclosing app's flags say.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);

    // --- S3: segments and write-ahead objects ---------------------------------------------------
    const bucketSecurity = {
      encryption: BUCKET_SECURITY.encryption === 'AES256' ? s3.BucketEncryption.S3_MANAGED : s3.BucketEncryption.KMS_MANAGED,
      bucketKeyEnabled: BUCKET_SECURITY.bucketKeyEnabled,
      blockPublicAccess: BUCKET_SECURITY.blockPublicAccess ? s3.BlockPublicAccess.BLOCK_ALL : undefined,
      enforceSSL: BUCKET_SECURITY.enforceSsl,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    };
    if (p.serverAccessLogs) {
      this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
        ...bucketSecurity,
        // The log delivery service writes with SSE-S3 only, and needs ACL-free ownership.
        encryption: s3.BucketEncryption.S3_MANAGED,
        removalPolicy: p.removalPolicy,
        lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      });
      NagSuppressions.addResourceSuppressions(this.accessLogBucket, [
        { id: 'AwsSolutions-S1', reason: 'This is the server access log bucket itself; logging it into itself would loop and another log bucket would only move the finding.' },
      ]);
    }
    this.bucket = new s3.Bucket(this, 'Data', {
      ...bucketSecurity,
      removalPolicy: p.removalPolicy,
      lifecycleRules: BUCKET_LIFECYCLE_RULES.map((r) => ({
        id: r.id,
        ...(r.prefix ? { prefix: r.prefix } : {}),
        ...(r.expireAfterDays !== undefined ? { expiration: Duration.days(r.expireAfterDays) } : {}),
        ...(r.abortIncompleteMultipartUploadAfterDays !== undefined
          ? { abortIncompleteMultipartUploadAfter: Duration.days(r.abortIncompleteMultipartUploadAfterDays) }
          : {}),
      })),
      ...(this.accessLogBucket ? { serverAccessLogsBucket: this.accessLogBucket, serverAccessLogsPrefix: 'data-bucket/' } : {}),
    });
    if (!this.accessLogBucket) {
      NagSuppressions.addResourceSuppressions(this.bucket, [
        { id: 'AwsSolutions-S1', reason: 'Server access logs were turned off by the deployer (serverAccessLogs: false); CloudTrail data events are the alternative.' },
      ]);
    }

    // --- DynamoDB: offsets, extents, topics, producers, groups ---------------------------------
    this.table = new dynamodb.Table(this, 'Meta', {
      partitionKey: { name: META_TABLE.partitionKey.name, type: dynamodb.AttributeType.STRING },
      sortKey: { name: META_TABLE.sortKey.name, type: dynamodb.AttributeType.STRING },
      billingMode: META_TABLE.billingMode === 'PAY_PER_REQUEST' ? dynamodb.BillingMode.PAY_PER_REQUEST : dynamodb.BillingMode.PROVISIONED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: META_TABLE.pointInTimeRecovery },
      // Commit items expire by TTL once flushed (lib/log/commit-items.ts): free deletes.
      timeToLiveAttribute: META_TABLE.timeToLiveAttribute,
      deletionProtection: p.tableDeletionProtection,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: p.removalPolicy,
    });

    // --- Lambda ----------------------------------------------------------------------------------
    const common = { SAMSA_STORAGE: 'aws', SAMSA_BUCKET: this.bucket.bucketName, SAMSA_TABLE: this.table.tableName };
    this.flushFunction = this.samsaFunction('Flush', 'flush.ts', p.flush, p.logRetention, common);
    this.retentionFunction = this.samsaFunction('Retention', 'retention.ts', p.retention, p.logRetention, common);
    // Streaming exists only behind a Function URL; API Gateway's HTTP API buffers.
    const streaming = p.auth.type === 'iam' && p.invokeMode === 'RESPONSE_STREAM';
    this.apiFunction = this.samsaFunction('Api', 'api.ts', p.api, p.logRetention, {
      ...common,
      // The app's limits follow the front (lib/http/limits.ts); live tails end before the timeout.
      SAMSA_INVOKE_MODE: streaming ? 'RESPONSE_STREAM' : 'BUFFERED',
      // The front, whatever SAMSA_AUTH says (authorization: false leaves it none behind API
      // Gateway too): its limits, and API Gateway's decoded rawPath (lib/runtime/lambda/event.ts).
      SAMSA_LAMBDA_FRONT: p.auth.type === 'iam' ? 'function-url' : 'api-gateway',
      SAMSA_FUNCTION_TIMEOUT_MS: String(p.api.timeout.toMilliseconds()),
      SAMSA_FLUSH_FUNCTION: this.flushFunction.functionName,
      // A topic deletion is handed to the retention function, so its data goes seconds later.
      SAMSA_RETENTION_FUNCTION: this.retentionFunction.functionName,
      SAMSA_FLUSH_TRIGGER_WINDOW_MS: String(p.flush.triggerWindow.toMilliseconds()),
      SAMSA_FLUSH_TRIGGER_BYTES: String(p.flush.triggerBytes),
      SAMSA_AUTH: p.authorization ? p.auth.type : 'none',
      ...(p.authorization ? { SAMSA_SUPER_USERS: this.superUsers(p) } : {}),
    }, streaming ? 'streamHandler' : 'handler');
    // A lost hand-off only delays a flush to the next scheduled pass: one retry, short-lived.
    this.flushFunction.configureAsyncInvoke({ retryAttempts: 1, maxEventAge: Duration.minutes(10) });
    // A lost deletion hand-off only leaves the deleted topic's data to the next scheduled pass.
    this.retentionFunction.configureAsyncInvoke({ retryAttempts: 1, maxEventAge: Duration.minutes(10) });

    // Least privilege, per function and per key prefix (the S3 actions each one's code calls).
    const objects = (...prefixes: string[]) => prefixes.map((x) => this.bucket.arnForObjects(`${x}*`));
    const { topics, wal } = S3_PREFIXES;
    /** Chunk objects of segments written in chunks: topics/<name>/[<id>/]<partition>/chunks/… (lib/log/keys.ts chunkObject). */
    const chunks = `${topics}*/chunks/`;
    // The table: every function writes items, singly and in transactions fenced by ConditionCheck
    // items (groups, retention); transactions need the action of each item. test/infra/iam.test.ts
    // holds every role to the requests its code path makes, both ways.
    const tableActions = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'];
    const allow = (fn: lambda.IFunction, actions: string[], resources: string[]) =>
      fn.addToRolePolicy(new iam.PolicyStatement({ effect: iam.Effect.ALLOW, actions, resources }));
    // Partition heads in batches of 100 (lib/groups/store.ts readHeads): every group poll in the
    // API, and the consumer lag the scheduled flush pass measures. Retention reads none.
    for (const fn of [this.apiFunction, this.flushFunction]) allow(fn, [...tableActions, 'dynamodb:BatchGetItem'], [this.table.tableArn]);
    allow(this.retentionFunction, tableActions, [this.table.tableArn]);
    // API: reads segments and write-ahead objects, writes write-ahead objects.
    allow(this.apiFunction, ['s3:GetObject'], objects(topics, wal));
    allow(this.apiFunction, ['s3:PutObject'], objects(wal));
    // API → flush hand-off: only this function, unqualified.
    allow(this.apiFunction, ['lambda:InvokeFunction'], [this.flushFunction.functionArn]);
    // API → retention: a topic deletion's hand-off (lib/runtime/lambda/deletion-handoff.ts).
    allow(this.apiFunction, ['lambda:InvokeFunction'], [this.retentionFunction.functionArn]);
    // Flush: builds segments by (multipart) append, drops consumed write-ahead objects, and the
    // chunk objects of a segment it composed (design note 0011) — never a segment itself.
    allow(this.flushFunction, ['s3:GetObject'], objects(topics, wal));
    allow(this.flushFunction, ['s3:PutObject', 's3:AbortMultipartUpload'], objects(topics));
    allow(this.flushFunction, ['s3:DeleteObject'], objects(chunks, wal));
    // Retention: expiry, deleted topics and the orphan sweep list and delete under both prefixes;
    // a segment a pass seals while written in chunks is composed here too (flush's code), by
    // (multipart) upload of the segment objects.
    allow(this.retentionFunction, ['s3:GetObject', 's3:DeleteObject'], objects(topics, wal));
    allow(this.retentionFunction, ['s3:PutObject', 's3:AbortMultipartUpload'], objects(topics));
    // ListBucket for all three, on Samsa's prefixes only: retention lists; the API and flush never
    // list, but without ListBucket S3 answers a GET/HEAD of a missing key with 403 instead of 404,
    // and the read path relies on not-found (a fetch racing a flush's deletes retries; one below
    // the log start gets 416). The S3 adapter also reads a bare AccessDenied as not-found, for
    // deployments whose policies are narrower than this one.
    for (const fn of [this.apiFunction, this.flushFunction, this.retentionFunction]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${topics}*`, `${wal}*`] } },
        }),
      );
    }
    for (const fn of [this.apiFunction, this.flushFunction, this.retentionFunction]) {
      NagSuppressions.addResourceSuppressions(
        fn.role!,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'Object keys are per topic, partition and offset, so object actions need a key wildcard; it is confined to this bucket and to the topics/ and wal/ prefixes the code writes (under topics/, flush deletes only in topics/*/chunks/). No action is a wildcard.',
            appliesTo: [
              { regex: `/^Resource::<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}\\.Arn>\\/(topics|wal|topics\\/\\*\\/chunks)\\/\\*$/g` },
            ],
          },
        ],
        true,
      );
    }

    // --- HTTP entry point: authenticated, never public -------------------------------------------
    if (p.auth.type === 'iam') {
      this.functionUrl = this.apiFunction.addFunctionUrl({
        authType: lambda.FunctionUrlAuthType.AWS_IAM,
        invokeMode: streaming ? lambda.InvokeMode.RESPONSE_STREAM : lambda.InvokeMode.BUFFERED,
      });
      for (const who of p.invokers) this.apiFunction.grantInvokeUrl(who);
      this.apiUrl = this.functionUrl.url;
    } else {
      const accessLogs = new logs.LogGroup(this, 'HttpApiAccessLogs', { retention: p.logRetention, removalPolicy: RemovalPolicy.DESTROY });
      this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
        description: 'Samsa HTTP API (JWT-authorized)',
        createDefaultStage: false,
        defaultIntegration: new HttpLambdaIntegration('Api', this.apiFunction, { payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0 }),
        defaultAuthorizer: new HttpJwtAuthorizer('Jwt', p.auth.issuer, { jwtAudience: p.auth.audience }),
      });
      const stage = new apigw.HttpStage(this, 'HttpApiStage', {
        httpApi: this.httpApi,
        stageName: '$default',
        autoDeploy: true,
        throttle: p.auth.throttle ?? SAMSA_DEFAULTS.jwtThrottle,
        accessLogSettings: { destination: new apigw.LogGroupLogDestination(accessLogs) },
      });
      this.apiUrl = stage.url;
    }

    // --- Schedules ---------------------------------------------------------------------------------
    new events.Rule(this, 'FlushSchedule', {
      description: 'Samsa: flush committed batches into Kafka segment files',
      schedule: events.Schedule.rate(p.flush.schedule),
      targets: [new targets.LambdaFunction(this.flushFunction, { retryAttempts: 0 })],
    });
    new events.Rule(this, 'RetentionSchedule', {
      description: 'Samsa: retention, deleted topics and crash leftovers',
      schedule: events.Schedule.rate(p.retention.schedule),
      targets: [new targets.LambdaFunction(this.retentionFunction, { retryAttempts: 0 })],
    });

    // --- Alarms and dashboard ----------------------------------------------------------------------
    const fiveMinutes = Duration.minutes(5);
    const alarm = (id: string, metric: cloudwatch.IMetric, threshold: number, description: string, extra: Partial<cloudwatch.AlarmProps> = {}) => {
      const a = new cloudwatch.Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
        ...extra,
      });
      for (const action of p.alarmActions) a.addAlarmAction(action);
      this.alarms.push(a);
      return a;
    };
    const fns = { Api: this.apiFunction, Flush: this.flushFunction, Retention: this.retentionFunction };
    for (const [name, fn] of Object.entries(fns)) {
      alarm(`${name}Errors`, fn.metricErrors({ period: fiveMinutes, statistic: 'Sum' }), 1, `Samsa ${name} function: invocations failed`);
      alarm(`${name}Throttles`, fn.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }), 1, `Samsa ${name} function: invocations throttled`);
    }
    const unflushed = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: 'UnflushedRecords',
      dimensionsMap: { Table: this.table.tableName },
      statistic: 'Minimum',
      period: fiveMinutes,
    });
    // Minimum over a period: a backlog the flush passes never got under. Missing data breaches —
    // no metric means no successful scheduled flush at all.
    alarm('FlushLag', unflushed, p.flushLagAlarmRecords, 'Samsa: flush passes leave a growing backlog of unflushed records (or do not run)', {
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    const ddbThrottles = new cloudwatch.MathExpression({
      expression: 'r + w',
      usingMetrics: {
        r: this.table.metric('ReadThrottleEvents', { statistic: 'Sum', period: fiveMinutes }),
        w: this.table.metric('WriteThrottleEvents', { statistic: 'Sum', period: fiveMinutes }),
      },
      label: 'DynamoDB throttle events',
      period: fiveMinutes,
    });
    alarm('DynamoDbThrottles', ddbThrottles, 1, 'Samsa: DynamoDB throttled reads or writes (on-demand limits or a hot partition)');

    // Samsa's own instruments (lib/obs), published as EMF by the functions: each also without
    // dimensions, which is what alarms and the totals below read.
    const samsa = (metricName: string, statistic = 'Sum', period = fiveMinutes) => new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, statistic, period });
    alarm('ProduceErrors', samsa('samsa_produce_failures_total'), 1, 'Samsa: produce requests failed with a server error (records were not acknowledged)');
    const oldestUnconsumed = samsa('samsa_oldest_unconsumed_age_seconds', 'Maximum');
    alarm('ConsumerLagAge', oldestUnconsumed, p.consumerLagAlarmSeconds, 'Samsa: a consumer group has not consumed a record older than the threshold (falling behind, or stopped)', {
      evaluationPeriods: 2,
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Invocations', left: Object.values(fns).map((f) => f.metricInvocations({ period: Duration.minutes(1) })), width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Errors / throttles', left: Object.values(fns).flatMap((f) => [f.metricErrors(), f.metricThrottles()]), width: 8 }),
          new cloudwatch.GraphWidget({ title: 'API duration (p50, p99)', left: [this.apiFunction.metricDuration({ statistic: 'p50' }), this.apiFunction.metricDuration({ statistic: 'p99' })], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Flush lag (records)', left: [unflushed.with({ statistic: 'Maximum', period: Duration.minutes(1) })], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'DynamoDB',
            left: [this.table.metricConsumedReadCapacityUnits(), this.table.metricConsumedWriteCapacityUnits()],
            right: [ddbThrottles],
            width: 8,
          }),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Throughput (records/min)',
            left: [samsa('samsa_produced_records_total', 'Sum', Duration.minutes(1)), samsa('samsa_fetched_records_total', 'Sum', Duration.minutes(1))],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Request duration (ms, p50 / p99)',
            left: [samsa('samsa_request_duration_ms', 'p50', Duration.minutes(1)), samsa('samsa_request_duration_ms', 'p99', Duration.minutes(1))],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Errors by code / oldest unconsumed record (s)',
            left: [
              new cloudwatch.MathExpression({
                expression: `SEARCH('{${METRICS_NAMESPACE},error_code} MetricName="samsa_errors_total"', 'Sum', 60)`,
                label: 'errors',
                period: Duration.minutes(1),
              }),
            ],
            right: [oldestUnconsumed.with({ period: Duration.minutes(1) })],
            width: 8,
          }),
        ],
      ],
    });
  }

  /** The configured super users, else the bootstrap's deploy role (the identity that deployed Samsa). */
  private superUsers(p: Resolved): string {
    if (p.superUsers !== undefined) return p.superUsers.join(',');
    const synth = Stack.of(this).synthesizer;
    if (p.auth.type === 'iam' && synth instanceof DefaultStackSynthesizer) return Fn.sub(`User:${synth.deployRoleArn}`);
    return '';
  }

  private samsaFunction(
    id: string,
    file: string,
    settings: Sized,
    retention: logs.RetentionDays,
    environment: Record<string, string>,
    handler = 'handler',
  ): NodejsFunction {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention, removalPolicy: RemovalPolicy.DESTROY });
    // Own role without AWS managed policies: logging is granted on this log group only.
    const role = new iam.Role(this, `${id}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: `Samsa ${id} function` });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    const fn = new NodejsFunction(this, id, {
      entry: path.join(PROJECT_ROOT, 'functions', file),
      handler,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: settings.memorySize,
      timeout: settings.timeout,
      ...(typeof settings.reservedConcurrency === 'number' ? { reservedConcurrentExecutions: settings.reservedConcurrency } : {}),
      role,
      logGroup,
      environment,
      bundling: bundlingOptions(file),
      description: `Samsa ${id.toLowerCase()} (functions/${file})`,
    });
    NagSuppressions.addResourceSuppressions(fn, [
      { id: 'AwsSolutions-L1', reason: 'Samsa targets nodejs22.x deliberately: the bundles are built and tested for Node 22; moving to a newer runtime is a tested upgrade, not an automatic one.' },
    ]);
    return fn;
  }
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
