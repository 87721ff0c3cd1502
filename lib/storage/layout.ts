// The object-key prefixes of Samsa's bucket layout. The layout is the log's: lib/log/keys.ts
// builds and parses every key under these prefixes. They live in this leaf module (no imports)
// because the bucket's lifecycle rules (aws-resources.ts) are scoped by them too, and storage
// may not import the log.
export const OBJECT_PREFIXES = {
  /** Segments: topics/<topic>/<topic id>/<partition>/<20-digit base>.log|.index|.timeindex (topics created before design note 0012: topics/<topic>/<partition>/…); on S3 an active segment's later chunks under <partition>/chunks/<base>+<logStart>.* (design note 0011) */
  topics: 'topics/',
  /** Write-ahead objects: wal/<topic id>/<partition>/<random id>; short-lived, superseded by segments on flush. */
  wal: 'wal/',
} as const;
