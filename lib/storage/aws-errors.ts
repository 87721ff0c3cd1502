// Translation of AWS SDK failures into Samsa's storage errors. SDK error objects never leave
// the adapters: callers see StorageError (or a precise subclass) with the SDK error as `cause`
// and `retriable` set for throttling, server faults, timeouts, dropped connections and the like (TRANSIENT).

import { StorageError, ThrottledError } from '../errors.js';

/** The fields of an SDK v3 service exception we rely on (a structural view, no SDK import). */
export interface SdkErrorLike {
  name?: string;
  message?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $retryable?: { throttling?: boolean };
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'SlowDown',
  'LimitExceededException',
]);

const TRANSIENT = new Set([
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'InternalError',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TransactionInProgressException',
  // S3: a concurrent conditional write on the same key; retrying gives the definitive answer.
  'ConditionalRequestConflict',
  'OperationAborted',
  // S3: a multipart upload it no longer knows. Its Complete may have applied, the response was
  // lost, and the SDK's repeat finds the upload completed (or it was aborted meanwhile): the
  // write's outcome is unknown, and doing it again (a new upload) gives the definitive answer.
  // Not a failure that recurs: a composition must not be set aside for it (design note 0011).
  'NoSuchUpload',
  // Credentials that expired between the SDK resolving them and the service checking them (S3:
  // ExpiredToken; DynamoDB: ExpiredTokenException), and a request time the service finds too
  // far from its own (S3: RequestTimeTooSkewed). Nothing was applied. Credentials that rotate
  // (task and instance roles, assumed roles) are fetched afresh by the SDK's provider once the
  // cached ones expire, and the SDK corrects its clock offset from the refusal, so the next
  // request passes: transient, not a failure that recurs. (Fixed temporary credentials that
  // expired fail every request, composition or not: the flush stops either way.) A composition
  // must not be set aside for them (design note 0011). Credentials that are wrong
  // (InvalidAccessKeyId, SignatureDoesNotMatch) stay permanent.
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestTimeTooSkewed',
]);

const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED',
  'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET',
]);

export function sdkError(err: unknown): SdkErrorLike {
  return typeof err === 'object' && err !== null ? (err as SdkErrorLike) : {};
}

export function httpStatusOf(err: unknown): number | undefined {
  return sdkError(err).$metadata?.httpStatusCode;
}

export function isThrottling(err: unknown): boolean {
  const e = sdkError(err);
  return THROTTLING.has(e.name ?? '') || e.$retryable?.throttling === true || httpStatusOf(err) === 429;
}

export function isRetriable(err: unknown): boolean {
  const e = sdkError(err);
  if (isThrottling(err) || TRANSIENT.has(e.name ?? '')) return true;
  if (e.$retryable) return true;
  if (e.code && NETWORK_CODES.has(e.code)) return true;
  const status = httpStatusOf(err);
  return status !== undefined && status >= 500;
}

/** Wraps anything thrown by the SDK; our own StorageErrors pass through untouched. */
export function wrapAwsError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const e = sdkError(err);
  const status = httpStatusOf(err);
  const kind = isThrottling(err) ? 'throttled' : (e.name ?? 'error');
  const detail = [kind, status !== undefined ? `HTTP ${status}` : undefined, e.message]
    .filter((s) => s !== undefined && s !== '')
    .join(': ');
  // Throttling is told apart: a commit can answer it by writing less (commit.ts, items mode).
  if (kind === 'throttled') return new ThrottledError(`${what} failed: ${detail}`, { cause: err });
  return new StorageError(`${what} failed: ${detail}`, isRetriable(err), { cause: err });
}
