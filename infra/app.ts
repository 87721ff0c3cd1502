// The CDK app (`npx cdk synth`, `npx cdk deploy`). Options come from context, so a team can
// deploy without editing code:
//   -c stackName=Samsa
//   -c auth=jwt -c jwtIssuer=https://cognito-idp.<region>.amazonaws.com/<pool> -c jwtAudience=<client id>[,<id>...]
//   -c removalPolicy=destroy      (dev stacks: bucket and table go with the stack; deletion protection off)
//   -c accessLogs=false
//   -c superUsers=User:arn:aws:iam::<account>:role/<admin role>[,...]   (default: the CDK deploy role)
//   -c authorization=false        (no ACLs: every invoker may do everything)
import { App, Aspects, RemovalPolicy } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { SamsaLogProps } from './samsa-log';
import { SamsaStack } from './samsa-stack';

const app = new App();
const ctx = (key: string): string | undefined => {
  const v = app.node.tryGetContext(key) as unknown;
  return v === undefined || v === null || v === '' ? undefined : String(v);
};

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
