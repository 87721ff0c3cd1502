// What the AWS adapters throw once the SDK has given up retrying a throttled call (wrapAwsError
// of the service's own exception), for tests that inject throttles through the fault wrappers.
import type { StorageError } from '../../lib/errors';
import { wrapAwsError } from '../../lib/storage/aws-errors';

/** DynamoDB's ProvisionedThroughputExceededException (HTTP 400) for the call `what`, e.g. "DynamoDB PutItem". */
export const dynamoThrottle = (what = 'DynamoDB PutItem'): StorageError =>
  wrapAwsError(Object.assign(new Error('Throughput exceeds the current capacity for one or more partition keys'), { name: 'ProvisionedThroughputExceededException', $fault: 'client', $metadata: { httpStatusCode: 400 } }), what);

/** S3's SlowDown (HTTP 503) for the call `what`. */
export const s3SlowDown = (what = 'S3 PutObject'): StorageError =>
  wrapAwsError(Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 } }), what);
