// The CDK app (`npx cdk synth`, `npx cdk deploy`). Options come from context, so a team can
// deploy without editing code:
//   -c stackName=Samsa
//   -c auth=jwt -c jwtIssuer=https://cognito-idp.<region>.amazonaws.com/<pool> -c jwtAudience=<client id>[,<id>...]
//   -c removalPolicy=destroy      (dev stacks: bucket and table go with the stack; deletion protection off)
//   -c accessLogs=false
//   -c superUsers=User:arn:aws:iam::<account>:role/<admin role>[,...]   (default: the CDK deploy role)
//   -c authorization=false        (no ACLs: every invoker may do everything)
// A key or value not listed here fails the synth: a typo (`-c samsaAuth=jwt`, `-c auth=jtw`)
// would otherwise deploy the defaults without a word.
import { App, Aspects, RemovalPolicy } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { SamsaLogProps } from './samsa-log';
import { SamsaStack } from './samsa-stack';

/** The context keys this app reads, each with the values it accepts (undefined: any non-empty text). */
const OPTIONS: Record<string, readonly string[] | undefined> = {
  stackName: undefined,
  auth: ['iam', 'jwt'],
  jwtIssuer: undefined,
  jwtAudience: undefined,
  removalPolicy: ['retain', 'destroy'],
  accessLogs: ['true', 'false'],
  superUsers: undefined,
  authorization: ['true', 'false'],
};
/**
 * Context the CDK itself puts beside ours: feature flags (`@aws-cdk/...`), its own settings and
 * lookups (`aws:cdk:...`, `availability-zones:account=...`), and these plain keys.
 */
const CDK_KEYS = new Set(['cli-telemetry', 'acknowledged-issue-numbers']);
const cdkOwned = (key: string): boolean => key.startsWith('@') || key.includes(':') || CDK_KEYS.has(key);

const app = new App();
const ctx = (key: string): string | undefined => {
  const v = app.node.tryGetContext(key) as unknown;
  return v === undefined || v === null || v === '' ? undefined : String(v);
};

const problems: string[] = [];
for (const key of Object.keys(app.node.getAllContext())) {
  if (cdkOwned(key)) continue;
  // Own keys only: "toString" or "constructor" found Object.prototype's members.
  if (!Object.hasOwn(OPTIONS, key)) {
    problems.push(`unknown context key "${key}" (known: ${Object.keys(OPTIONS).join(', ')})`);
    continue;
  }
  const allowed = OPTIONS[key];
  const value = ctx(key);
  if (allowed && value !== undefined && !allowed.includes(value)) problems.push(`${key}: "${value}" is not one of ${allowed.join(', ')}`);
}
if (ctx('auth') !== 'jwt') {
  for (const key of ['jwtIssuer', 'jwtAudience']) if (ctx(key) !== undefined) problems.push(`${key} applies with -c auth=jwt only`);
}
if (problems.length > 0) {
  // A message, not a stack trace: the mistake is in the command line, not in this file.
  console.error(`infra/app.ts: invalid context (-c key=value):\n  - ${problems.join('\n  - ')}`);
  process.exit(1);
}

const samsa: SamsaLogProps = {};
if (ctx('auth') === 'jwt') {
  samsa.auth = { type: 'jwt', issuer: ctx('jwtIssuer') ?? '', audience: (ctx('jwtAudience') ?? '').split(',').filter(Boolean) };
}
if (ctx('removalPolicy') === 'destroy') {
  samsa.removalPolicy = RemovalPolicy.DESTROY;
  samsa.tableDeletionProtection = false;
}
if (ctx('accessLogs') === 'false') samsa.serverAccessLogs = false;
if (ctx('superUsers')) samsa.superUsers = ctx('superUsers')!.split(',').map((s) => s.trim()).filter(Boolean);
if (ctx('authorization') === 'false') samsa.authorization = false;

// cdk-nag on every synth: a new finding fails `cdk synth` (and so CI) until fixed or suppressed with a reason.
Aspects.of(app).add(new AwsSolutionsChecks());

new SamsaStack(app, ctx('stackName') ?? 'Samsa', {
  description: 'Samsa: a serverless, Kafka-style event log (S3 + DynamoDB + Lambda)',
  samsa,
  // Environment-agnostic unless the deployer's CLI environment is known (region-specific lookups are not needed).
  ...(process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
    ? { env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } }
    : {}),
});
