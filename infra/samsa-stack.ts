// The deployable stack: one SamsaLog plus the outputs a team needs to call it.
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SamsaLog, type SamsaLogProps } from './samsa-log';

export interface SamsaStackProps extends StackProps {
  samsa?: SamsaLogProps;
}

export class SamsaStack extends Stack {
  readonly samsa: SamsaLog;

  constructor(scope: Construct, id: string, props: SamsaStackProps = {}) {
    super(scope, id, props);
    this.samsa = new SamsaLog(this, 'Samsa', props.samsa);
    new CfnOutput(this, 'ApiUrl', { value: this.samsa.apiUrl, description: 'Samsa HTTP API (SigV4 for service lambda, or a JWT, depending on auth)' });
    new CfnOutput(this, 'AuthType', { value: props.samsa?.auth?.type ?? 'iam' });
    new CfnOutput(this, 'ApiFunctionName', { value: this.samsa.apiFunction.functionName });
    new CfnOutput(this, 'BucketName', { value: this.samsa.bucket.bucketName });
    new CfnOutput(this, 'TableName', { value: this.samsa.table.tableName });
    new CfnOutput(this, 'DashboardName', { value: this.samsa.dashboard.dashboardName });
  }
}
