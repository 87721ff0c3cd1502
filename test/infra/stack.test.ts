// Template assertions for the SamsaLog construct and the Samsa stack, and cdk-nag's
// AwsSolutions pack. Bundling is skipped here (context aws:cdk:bundling-stacks = []): the
// bundles themselves are built by `npm run synth` and exercised in bundles.test.ts.
import { App, Aspects, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { resolveProps, SamsaLog, type SamsaLogProps } from '../../infra/samsa-log';
import { SamsaStack } from '../../infra/samsa-stack';

function synth(samsa: SamsaLogProps = {}, opts: { nag?: boolean } = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new SamsaStack(app, 'Test', { samsa });
  if (opts.nag) Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  app.synth();
  return { stack, template: Template.fromStack(stack) };
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }>;

const JWT: SamsaLogProps = { auth: { type: 'jwt', issuer: 'https://issuer.example.com/', audience: ['samsa-clients'] } };

describe('SamsaLog (default: IAM Function URL)', () => {
  const { template } = synth();
  const resources = template.toJSON().Resources as Resources;

  it('data bucket: encrypted, all public access blocked, TLS only, access-logged, lifecycle from aws-resources.ts', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: true }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'data-bucket/' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'samsa-abort-incomplete-multipart', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
          Match.objectLike({ Id: 'samsa-expire-wal', Prefix: 'wal/', ExpirationInDays: 7 }),
        ]),
      },
    });
    // Every bucket (data and access logs) denies plain HTTP.
    const buckets = Object.keys(template.findResources('AWS::S3::Bucket'));
    expect(buckets).toHaveLength(2);
    for (const b of buckets) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: b },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
      template.hasResource('AWS::S3::Bucket', { Properties: Match.objectLike({ PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicPolicy: true }) }) });
    }
    // Retained by default: the log is data.
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ LifecycleConfiguration: Match.anyValue(), LoggingConfiguration: Match.anyValue() }) });
  });

  it('table: on-demand, point-in-time recovery, deletion protection, TTL on the commit items\' attribute, key schema from aws-resources.ts', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('three Node 22 arm64 functions with memory and timeout set deliberately', () => {
    const fns = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(fns).toHaveLength(3);
    for (const fn of fns) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      // The API answers through Lambda's response streaming (streamHandler), the jobs return.
      expect(fn.Properties.Handler).toBe(String(fn.Properties.Description).includes('functions/api.ts') ? 'index.streamHandler' : 'index.handler');
      expect(fn.Properties.Environment.Variables).toMatchObject({ SAMSA_STORAGE: 'aws', SAMSA_BUCKET: { Ref: expect.any(String) }, SAMSA_TABLE: { Ref: expect.any(String) } });
    }
    const byDesc = (s: string) => fns.find((f) => String(f.Properties.Description).includes(s))!.Properties;
    expect(byDesc('functions/api.ts')).toMatchObject({ MemorySize: 1024, Timeout: 70 });
    expect(byDesc('functions/flush.ts')).toMatchObject({ MemorySize: 1024, Timeout: 300 });
    expect(byDesc('functions/retention.ts')).toMatchObject({ MemorySize: 512, Timeout: 300 });
    expect(byDesc('functions/api.ts').Environment.Variables).toMatchObject({
      SAMSA_FLUSH_FUNCTION: { Ref: expect.stringMatching(/Flush/) },
      SAMSA_FLUSH_TRIGGER_WINDOW_MS: '5000',
      SAMSA_FLUSH_TRIGGER_BYTES: String(32 * 1024 * 1024),
      // The app's limits follow the front, and live tails end inside the 70 s timeout.
      SAMSA_INVOKE_MODE: 'RESPONSE_STREAM',
      SAMSA_FUNCTION_TIMEOUT_MS: '70000',
    });
    // The API reserves (and is capped at) 100 concurrent instances, so long polls cannot take
    // the account's whole pool from flush; flush and retention draw on the unreserved rest.
    expect(byDesc('functions/api.ts').ReservedConcurrentExecutions).toBe(100);
    expect(byDesc('functions/flush.ts').ReservedConcurrentExecutions).toBeUndefined();
    expect(byDesc('functions/retention.ts').ReservedConcurrentExecutions).toBeUndefined();
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 1, MaximumEventAgeInSeconds: 600 });
  });

  it('HTTP entry point: a Function URL with AWS_IAM auth; nothing invokable by an unauthenticated principal', () => {
    template.resourceCountIs('AWS::Lambda::Url', 1);
    // Streamed responses: binary without base64, live tails (docs/limits.md).
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM', InvokeMode: 'RESPONSE_STREAM' });
    for (const perm of Object.values(template.findResources('AWS::Lambda::Permission'))) {
      expect(perm.Properties.Principal).not.toBe('*');
      expect(perm.Properties.FunctionUrlAuthType).not.toBe('NONE');
    }
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
  });

  it('EventBridge schedules run flush every minute and retention every 15 minutes', () => {
    const fnId = (desc: string) => Object.entries(template.findResources('AWS::Lambda::Function')).find(([, f]) => String(f.Properties.Description).includes(desc))![0];
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId('flush.ts'), 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId('retention.ts'), 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', { Principal: 'events.amazonaws.com', SourceArn: Match.anyValue() });
  });

  it('IAM: no wildcard actions, no statement on Resource "*", no AWS managed policies, data actions scoped to the bucket prefixes and the table', () => {
    const statements: { Action: string | string[]; Resource: unknown; Effect: string }[] = [];
    for (const r of Object.values(resources)) {
      if (r.Type === 'AWS::IAM::Policy') statements.push(...(r.Properties!.PolicyDocument as { Statement: typeof statements }).Statement);
      if (r.Type === 'AWS::IAM::Role') expect(r.Properties!.ManagedPolicyArns).toBeUndefined();
    }
    expect(statements.length).toBeGreaterThan(5);
    for (const s of statements) {
      const actions = [s.Action].flat();
      for (const a of actions) expect(a, JSON.stringify(s)).not.toContain('*');
      const res = [s.Resource].flat();
      expect(res, JSON.stringify(s)).not.toContain('*');
      for (const r of res) {
        const text = JSON.stringify(r);
        if (text.includes('*')) expect(text, 'only bucket-prefix object wildcards').toMatch(/\/(topics|wal)\/\*/);
      }
    }
    const all = statements.flatMap((s) => [s.Action].flat());
    expect(new Set(all)).toEqual(
      new Set([
        'logs:CreateLogStream', 'logs:PutLogEvents',
        'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:BatchGetItem',
        's3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject', 's3:ListBucket',
        'lambda:InvokeFunction',
      ]),
    );
    // The API may only invoke the flush function, and only it writes nothing but wal/.
    const api = Object.entries(resources).find(([k, r]) => r.Type === 'AWS::IAM::Policy' && k.includes('ApiRole'))![1];
    const apiText = JSON.stringify(api.Properties!.PolicyDocument);
    expect(apiText).not.toContain('s3:DeleteObject');
    // The segments route presigns GETs with the API's own credentials: a URL can grant no more
    // than the role's s3:GetObject, which covers the object prefixes only (never the bucket).
    const dataBucket = Object.entries(resources).find(([k, r]) => r.Type === 'AWS::S3::Bucket' && !/Log/i.test(k))![0];
    const apiStatements = [(api.Properties!.PolicyDocument as { Statement: unknown }).Statement].flat() as Array<Record<string, unknown>>;
    const gets = apiStatements.filter((st) => [st['Action']].flat().includes('s3:GetObject'));
    expect(gets).toEqual([
      {
        Action: 's3:GetObject',
        Effect: 'Allow',
        Resource: ['topics/*', 'wal/*'].map((prefix) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [dataBucket, 'Arn'] }, `/${prefix}`]] })),
      },
    ]);
    expect(apiText).toMatch(/"Action":"lambda:InvokeFunction","Effect":"Allow","Resource":\{"Fn::GetAtt":\["\w*Flush\w*","Arn"\]\}/);
  });

  it('IAM: the API may invoke the flush and the retention function (unqualified) and nothing else; they invoke nothing; each gets the same one-retry async config', () => {
    const fnId = (desc: string) => Object.entries(template.findResources('AWS::Lambda::Function')).find(([, f]) => String(f.Properties.Description).includes(desc))![0];
    const invokes = (role: string) =>
      Object.entries(resources)
        .filter(([k, r]) => r.Type === 'AWS::IAM::Policy' && k.includes(`${role}Role`))
        .flatMap(([, r]) => [(r.Properties!.PolicyDocument as { Statement: unknown }).Statement].flat() as Array<Record<string, unknown>>)
        .filter((st) => [st['Action']].flat().some((a) => String(a).startsWith('lambda:')))
        .map((st) => ({ action: st['Action'], effect: st['Effect'], resource: st['Resource'] }));
    expect(invokes('Api')).toEqual([
      { action: 'lambda:InvokeFunction', effect: 'Allow', resource: { 'Fn::GetAtt': [fnId('flush.ts'), 'Arn'] } },
      { action: 'lambda:InvokeFunction', effect: 'Allow', resource: { 'Fn::GetAtt': [fnId('retention.ts'), 'Arn'] } },
    ]);
    expect(invokes('Flush')).toEqual([]);
    expect(invokes('Retention')).toEqual([]);
    const configs = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig')).map((r) => r.Properties as Record<string, unknown>);
    expect(configs.map((c) => JSON.stringify(c.FunctionName)).sort()).toEqual([{ Ref: fnId('flush.ts') }, { Ref: fnId('retention.ts') }].map((x) => JSON.stringify(x)).sort());
    for (const c of configs) expect(c).toMatchObject({ MaximumRetryAttempts: 1, MaximumEventAgeInSeconds: 600, Qualifier: '$LATEST' });
  });

  it('IAM: every function may list the bucket, under topics/ and wal/ only, so S3 answers a missing key 404 (not 403)', () => {
    const dataBucket = Object.entries(resources).find(([k, r]) => r.Type === 'AWS::S3::Bucket' && !/Log/i.test(k))![0];
    for (const fn of ['Api', 'Flush', 'Retention']) {
      const [, policy] = Object.entries(resources).find(([k, r]) => r.Type === 'AWS::IAM::Policy' && k.includes(`${fn}Role`))!;
      const statements = [(policy.Properties!.PolicyDocument as { Statement: unknown }).Statement].flat() as Array<Record<string, unknown>>;
      const list = statements.filter((st) => [st['Action']].flat().includes('s3:ListBucket'));
      expect(list, fn).toEqual([
        {
          Action: 's3:ListBucket',
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [dataBucket, 'Arn'] },
          Condition: { StringLike: { 's3:prefix': ['topics/*', 'wal/*'] } },
        },
      ]);
    }
  });

  it('alarms for errors, throttles, flush lag and DynamoDB throttling, a dashboard, and outputs', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    expect(alarms.filter((a) => a.MetricName === 'Errors' && a.Namespace === 'AWS/Lambda')).toHaveLength(3);
    expect(alarms.filter((a) => a.MetricName === 'Throttles' && a.Namespace === 'AWS/Lambda')).toHaveLength(3);
    const lag = alarms.find((a) => a.MetricName === 'UnflushedRecords')!;
    expect(lag).toMatchObject({ Namespace: 'Samsa', Threshold: 100000, EvaluationPeriods: 3, TreatMissingData: 'breaching', Dimensions: [{ Name: 'Table', Value: { Ref: expect.any(String) } }] });
    const ddb = alarms.find((a) => Array.isArray(a.Metrics))!;
    expect(JSON.stringify(ddb.Metrics)).toContain('ReadThrottleEvents');
    expect(JSON.stringify(ddb.Metrics)).toContain('WriteThrottleEvents');
    // Samsa's own EMF instruments: produce failures and the oldest unconsumed record's age.
    expect(alarms.find((a) => a.MetricName === 'samsa_produce_failures_total')).toMatchObject({ Namespace: 'Samsa', Statistic: 'Sum', Threshold: 1 });
    expect(alarms.find((a) => a.MetricName === 'samsa_oldest_unconsumed_age_seconds')).toMatchObject({ Namespace: 'Samsa', Statistic: 'Maximum', Threshold: 3600 });
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody);
    for (const m of ['samsa_produced_records_total', 'samsa_request_duration_ms', 'samsa_errors_total', 'samsa_oldest_unconsumed_age_seconds']) expect(body).toContain(m);
    for (const out of ['ApiUrl', 'BucketName', 'TableName']) template.hasOutput(out, Match.anyValue());
    template.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('FunctionUrl'), 'FunctionUrl'] } });
  });

  it('log groups with retention, one per function', () => {
    template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, 3);
  });
});

describe('SamsaLog options', () => {
  it('JWT alternative: an HTTP API whose every route needs a JWT, throttled and access-logged; no Function URL', () => {
    const { template } = synth(JWT);
    template.resourceCountIs('AWS::Lambda::Url', 0);
    // API Gateway buffers: the function returns its response, with the buffered limits.
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('functions/api.ts'),
      Handler: 'index.handler',
      Environment: { Variables: Match.objectLike({ SAMSA_INVOKE_MODE: 'BUFFERED' }) },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: 'https://issuer.example.com/', Audience: ['samsa-clients'] },
    });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route'));
    expect(routes.length).toBeGreaterThan(0);
    for (const r of routes) expect(r.Properties.AuthorizationType).toBe('JWT');
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
    });
    template.hasResourceProperties('AWS::Lambda::Permission', { Principal: 'apigateway.amazonaws.com', SourceArn: Match.anyValue() });
  });

  it('knobs: deletion protection off, destroy policy, reserved concurrency, memory, schedules, invokers', () => {
    const { template } = synth({
      tableDeletionProtection: false,
      removalPolicy: RemovalPolicy.DESTROY,
      serverAccessLogs: false,
      api: { reservedConcurrency: 20, memorySize: 2048 },
      flush: { reservedConcurrency: 4, schedule: Duration.minutes(2), triggerBytes: 65536, triggerWindow: Duration.seconds(1) },
      retention: { schedule: Duration.hours(1) },
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: false });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 20, MemorySize: 2048 });
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 4 });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ SAMSA_FLUSH_TRIGGER_WINDOW_MS: '1000', SAMSA_FLUSH_TRIGGER_BYTES: '65536' }) } });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(2 minutes)' });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
  });

  it('invokers get lambda:InvokeFunctionUrl and, through the URL only, lambda:InvokeFunction (both needed since October 2025)', () => {
    const { template } = synth({ invokers: [new iam.AccountPrincipal('123456789012')] });
    const api = { 'Fn::GetAtt': [Match.stringLikeRegexp('Api'), 'Arn'] };
    template.hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunctionUrl', Principal: '123456789012', FunctionUrlAuthType: 'AWS_IAM', FunctionName: api });
    // A plain InvokeFunction would let the invoker hand the API any event, identity included
    // (docs/design/0009-threat-model.md): it is granted for invocations through the URL only.
    template.hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunction', Principal: '123456789012', InvokedViaFunctionUrl: true, FunctionName: api });
    const direct = Object.values(template.findResources('AWS::Lambda::Permission')).filter(
      (p) => p.Properties.Action === 'lambda:InvokeFunction' && p.Properties.Principal === '123456789012' && p.Properties.InvokedViaFunctionUrl !== true,
    );
    expect(direct).toEqual([]);
    // A role in the same stack gets both in its own policy, InvokeFunction under the same condition.
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'RoleInvoker');
    const team = new iam.Role(stack, 'Team', { assumedBy: new iam.AccountPrincipal('123456789012') });
    new SamsaLog(stack, 'Samsa', { invokers: [team] });
    const teamPolicy = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).find((p) => JSON.stringify(p.Properties.Roles).includes('Team'))!;
    expect(teamPolicy.Properties.PolicyDocument.Statement).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 'lambda:InvokeFunctionUrl', Effect: 'Allow', Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } } }),
        expect.objectContaining({ Action: 'lambda:InvokeFunction', Effect: 'Allow', Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': true } } }),
      ]),
    );
    for (const st of teamPolicy.Properties.PolicyDocument.Statement as Array<{ Action: string; Condition?: unknown }>) expect(st.Condition, st.Action).toBeDefined();
  });

  it('authorization: on by default with the deploy role as super user; a prop names others; JWT and opt-out', () => {
    const apiEnv = (props: SamsaLogProps) => {
      const fns = Object.values(synth(props).template.toJSON().Resources as Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
      const api = fns.find((f) => String(f.Properties!['Description']).includes('functions/api.ts'))!;
      return (api.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables;
    };
    expect(apiEnv({})).toMatchObject({
      SAMSA_AUTH: 'iam',
      SAMSA_SUPER_USERS: { 'Fn::Sub': 'User:arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-deploy-role-${AWS::AccountId}-${AWS::Region}' },
    });
    expect(apiEnv({ superUsers: ['User:arn:aws:iam::123456789012:role/Admins'] })).toMatchObject({ SAMSA_AUTH: 'iam', SAMSA_SUPER_USERS: 'User:arn:aws:iam::123456789012:role/Admins' });
    expect(apiEnv(JWT)).toMatchObject({ SAMSA_AUTH: 'jwt', SAMSA_SUPER_USERS: '' });
    const off = apiEnv({ authorization: false });
    expect(off['SAMSA_AUTH']).toBe('none');
    expect(off['SAMSA_SUPER_USERS']).toBeUndefined();
    expect(() => resolveProps({ superUsers: ['alice'] })).toThrow(/superUsers entries look like User:/);
  });

  it('invokeMode BUFFERED: a buffered Function URL and the returning handler', () => {
    const { template } = synth({ invokeMode: 'BUFFERED' });
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM', InvokeMode: 'BUFFERED' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('functions/api.ts'),
      Handler: 'index.handler',
      Environment: { Variables: Match.objectLike({ SAMSA_INVOKE_MODE: 'BUFFERED' }) },
    });
  });

  it("api.reservedConcurrency 'none' leaves the API unreserved (accounts whose quota is still 10)", () => {
    const { template } = synth({ api: { reservedConcurrency: 'none' } });
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('props that cannot work fail the synth with the prop named, instead of deploying something else', () => {
    const fails = (props: SamsaLogProps, message: RegExp) => expect(() => synth(props), message.source).toThrow(message);
    // CloudFormation snapshots neither a bucket nor this table: SNAPSHOT would not keep the data.
    fails({ removalPolicy: RemovalPolicy.SNAPSHOT }, /removalPolicy SNAPSHOT/);
    // DESTROY with deletion protection on (the default, or asked for) makes stack deletion fail on the table.
    fails({ removalPolicy: RemovalPolicy.DESTROY }, /removalPolicy DESTROY needs tableDeletionProtection: false/);
    fails({ removalPolicy: RemovalPolicy.DESTROY, tableDeletionProtection: true }, /removalPolicy DESTROY needs tableDeletionProtection: false/);
    // API Gateway buffers every response: a streamed front asked for with JWT would silently be buffered.
    fails({ ...JWT, invokeMode: 'RESPONSE_STREAM' }, /invokeMode RESPONSE_STREAM .*auth.type "jwt"/);
    // With authorization off there are no ACLs to bypass: the super users would be dropped.
    fails({ authorization: false, superUsers: ['User:arn:aws:iam::123456789012:role/Admins'] }, /superUsers .*authorization: false/);
    fails({ flushLagAlarmRecords: 0 }, /flushLagAlarmRecords must be a positive number/);
    fails({ flushLagAlarmRecords: Number.NaN }, /flushLagAlarmRecords must be a positive number/);
    fails({ consumerLagAlarmSeconds: -60 }, /consumerLagAlarmSeconds must be a positive number/);
    fails({ auth: { ...(JWT.auth as { type: 'jwt'; issuer: string; audience: string[] }), throttle: { rateLimit: 0, burstLimit: -1 } } }, /auth.throttle.rateLimit must be a positive number[\s\S]*auth.throttle.burstLimit must be a positive integer/);
    fails({ flush: { triggerBytes: -1 } }, /flush.triggerBytes must be a non-negative integer/);
    fails({ flush: { triggerWindow: Duration.seconds(0) } }, /flush.triggerWindow/);
    fails({ retention: { schedule: Duration.seconds(0) } }, /retention.schedule/);
    // What still synthesizes: DESTROY with protection off, BUFFERED with JWT, no super users without authorization.
    expect(() => resolveProps({ removalPolicy: RemovalPolicy.DESTROY, tableDeletionProtection: false })).not.toThrow();
    expect(() => resolveProps({ ...JWT, invokeMode: 'BUFFERED' })).not.toThrow();
    expect(() => resolveProps({ authorization: false })).not.toThrow();
    expect(() => resolveProps({ removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE })).not.toThrow();
  });

  it('retention.timeout must cover a pass: its 60 s budget plus the partition it holds when the budget runs out (a 30 s lease)', () => {
    expect(() => synth({ retention: { timeout: Duration.seconds(60) } })).toThrow(/retention.timeout must be at least 90 s/);
    expect(() => synth({ retention: { timeout: Duration.seconds(89) } })).toThrow(/retention.timeout must be at least 90 s/);
    const { template } = synth({ retention: { timeout: Duration.seconds(90) } });
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('functions/retention.ts'), Timeout: 90 });
  });

  it('flush.timeout must leave a pass time for steps: at least twice the margin a pass keeps for one step and its report (60 s)', () => {
    // Below it, the scheduled pass's deadline (remaining time less the margin) would come
    // before it could start any step, or soon after: little or nothing flushed, without an error.
    expect(() => resolveProps({ flush: { timeout: Duration.seconds(60) } })).toThrow(/flush.timeout must be at least 120 s/);
    expect(() => resolveProps({ flush: { timeout: Duration.seconds(119) } })).toThrow(/flush.timeout must be at least 120 s/);
    expect(() => resolveProps({ flush: { timeout: Duration.seconds(120) } })).not.toThrow();
  });

  it('invalid props are reported together', () => {
    expect(() =>
      resolveProps({
        api: { memorySize: 64, timeout: Duration.seconds(30) },
        flush: { reservedConcurrency: 0, schedule: Duration.seconds(30) },
        auth: { type: 'jwt', issuer: 'http://insecure', audience: [] },
      }),
    ).toThrow(/api.memorySize[\s\S]*flush.reservedConcurrency[\s\S]*api.timeout must be at least 65 s[\s\S]*flush.schedule[\s\S]*issuer[\s\S]*audience/);
  });
});

describe('cdk-nag AwsSolutions', () => {
  for (const [name, props] of [['IAM Function URL (default)', {}], ['JWT HTTP API', JWT], ['no access logs, destroy', { serverAccessLogs: false, removalPolicy: RemovalPolicy.DESTROY, tableDeletionProtection: false }]] as const) {
    it(`${name}: no unsuppressed errors or warnings, and every suppression has a reason`, () => {
      const { stack, template } = synth(props as SamsaLogProps, { nag: true });
      const findings = [
        ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
        ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ];
      expect(findings.map((f) => `${f.id}: ${String(f.entry.data).split('\n')[0]}`)).toEqual([]);
      let suppressions = 0;
      for (const r of Object.values(template.toJSON().Resources as Resources)) {
        const rules = (r.Metadata?.['cdk_nag'] as { rules_to_suppress?: { id: string; reason: string }[] } | undefined)?.rules_to_suppress ?? [];
        for (const rule of rules) {
          suppressions++;
          expect(rule.reason.length, `${rule.id} needs a reason`).toBeGreaterThan(40);
        }
      }
      expect(suppressions).toBeGreaterThan(0);
    });
  }
});
