// Errors. Internally Samsa raises precise errors; publicly every failure maps to one of the
// Kafka-style codes of the API contract (docs/http-api.md) with an HTTP status. Storage errors
// are internal: the HTTP layer never shows SDK errors to clients.

export type ErrorCode =
  | 'UNKNOWN_TOPIC_OR_PARTITION'
  | 'TOPIC_ALREADY_EXISTS'
  | 'INVALID_TOPIC_EXCEPTION'
  | 'INVALID_PARTITIONS'
  | 'INVALID_CONFIG'
  | 'INVALID_REQUEST'
  | 'CORRUPT_MESSAGE'
  | 'RECORD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'OFFSET_OUT_OF_RANGE'
  | 'UNKNOWN_MEMBER_ID'
  | 'ILLEGAL_GENERATION'
  | 'OUT_OF_ORDER_SEQUENCE_NUMBER'
  | 'INVALID_PRODUCER_EPOCH'
  | 'UNKNOWN_PRODUCER_ID'
  | 'NON_EMPTY_GROUP'
  | 'INCONSISTENT_GROUP_PROTOCOL'
  | 'GROUP_ID_NOT_FOUND'
  | 'THROTTLING'
  | 'NOT_AUTHORIZED'
  | 'AUTHENTICATION_FAILED'
  | 'TOPIC_AUTHORIZATION_FAILED'
  | 'GROUP_AUTHORIZATION_FAILED'
  | 'CLUSTER_AUTHORIZATION_FAILED'
  | 'THROTTLING_QUOTA_EXCEEDED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'REQUEST_TIMED_OUT'
  | 'UNKNOWN_SERVER_ERROR';

const STATUS: Record<ErrorCode, number> = {
  UNKNOWN_TOPIC_OR_PARTITION: 404,
  TOPIC_ALREADY_EXISTS: 409,
  INVALID_TOPIC_EXCEPTION: 400,
  INVALID_PARTITIONS: 400,
  INVALID_CONFIG: 400,
  INVALID_REQUEST: 400,
  CORRUPT_MESSAGE: 400,
  RECORD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  OFFSET_OUT_OF_RANGE: 416,
  UNKNOWN_MEMBER_ID: 404,
  ILLEGAL_GENERATION: 409,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 409,
  INVALID_PRODUCER_EPOCH: 409,
  UNKNOWN_PRODUCER_ID: 404,
  NON_EMPTY_GROUP: 409,
  INCONSISTENT_GROUP_PROTOCOL: 409,
  GROUP_ID_NOT_FOUND: 404,
  THROTTLING: 429,
  NOT_AUTHORIZED: 403,
  AUTHENTICATION_FAILED: 401,
  TOPIC_AUTHORIZATION_FAILED: 403,
  GROUP_AUTHORIZATION_FAILED: 403,
  CLUSTER_AUTHORIZATION_FAILED: 403,
  THROTTLING_QUOTA_EXCEEDED: 429,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMED_OUT: 503,
  UNKNOWN_SERVER_ERROR: 500,
};

/** A failure the caller can act on: carries the public code, status and extra body fields. */
export class SamsaError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown>;
  /** True when retrying the same request may succeed (KafkaJS's `retriable`). */
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, retriable = false) {
    super(message);
    this.name = 'SamsaError';
    this.code = code;
    this.status = STATUS[code];
    this.details = details;
    this.retriable = retriable;
  }

  toJSON(): Record<string, unknown> {
    return { error_code: this.code, message: this.message, ...this.details };
  }
}

export const statusOf = (code: ErrorCode): number => STATUS[code];

/** Raised by the records codec for bytes that are not a valid RecordBatch v2. */
export class CorruptRecordError extends SamsaError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('CORRUPT_MESSAGE', message, details);
    this.name = 'CorruptRecordError';
  }
}

// --- storage-level errors (internal; never shown to clients as-is) ---------------------------

export class StorageError extends Error {
  /** Retrying may help (throttling, conflicts, timeouts). */
  readonly retriable: boolean;
  constructor(message: string, retriable = false, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.retriable = retriable;
  }
}

export class ObjectNotFoundError extends StorageError {
  constructor(readonly key: string) {
    super(`object not found: ${key}`);
    this.name = 'ObjectNotFoundError';
  }
}

/**
 * An object that is gone: by name, so that it holds for every copy of this module (the S3
 * adapter's compiled import of it included).
 */
export const isObjectNotFound = (err: unknown): err is ObjectNotFoundError => err instanceof Error && err.name === 'ObjectNotFoundError';

export class PreconditionFailedError extends StorageError {
  constructor(readonly key: string) {
    super(`object already exists: ${key}`);
    this.name = 'PreconditionFailedError';
  }
}

export class InvalidRangeError extends StorageError {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
    this.name = 'InvalidRangeError';
  }
}

/** A conditional write's condition did not hold. `index` is the op's position in a transaction. */
export class ConditionFailedError extends StorageError {
  constructor(
    readonly index: number,
    readonly item: import('./storage/ports.js').MetaItem | undefined,
    message = 'condition failed',
  ) {
    super(message);
    this.name = 'ConditionFailedError';
  }
}

/** A concurrent transaction touched the same items; the whole transaction may be retried. */
export class TransactionConflictError extends StorageError {
  constructor(message = 'transaction conflict', options?: { cause?: unknown }) {
    super(message, true, options);
    this.name = 'TransactionConflictError';
  }
}

/**
 * The store refused the request for capacity (DynamoDB ProvisionedThroughputExceeded /
 * ThrottlingException, after the SDK's own retries): retriable, and the refused request itself
 * was not applied (a request the SDK sent before it, whose response was lost, may have been).
 */
export class ThrottledError extends StorageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, true, options);
    this.name = 'ThrottledError';
  }
}

/**
 * What a caller is told of `err`: a SamsaError as it is; a store that kept throttling (after the
 * SDK's retries, on any path: a read, a key check, a write-ahead PUT) as a retriable THROTTLING,
 * which says "slow down and retry" where UNKNOWN_SERVER_ERROR would say "broken"; undefined for
 * anything else (an unexpected failure, answered as one and logged).
 */
export function publicError(err: unknown): SamsaError | undefined {
  if (err instanceof SamsaError) return err;
  if (err instanceof ThrottledError) return new SamsaError('THROTTLING', 'the storage service is throttling requests; retry with backoff', {}, true);
  return undefined;
}
