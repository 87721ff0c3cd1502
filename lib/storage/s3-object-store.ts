// ObjectStore on S3. Keys map 1:1 to object keys under an optional prefix. `append` never
// streams a large object through Lambda memory: a kept prefix of 5 MiB or more is copied
// server-side (UploadPartCopy) into a new multipart upload whose last part is the new body.

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { InvalidRangeError, ObjectNotFoundError, PreconditionFailedError, StorageError } from '../errors.js';
import { checkComposeSource } from './compose-source.js';
import { concatBytes } from '../util/bytes.js';
import { httpStatusOf, sdkError, wrapAwsError } from './aws-errors.js';
import type { AppendOptions, ByteRange, ComposeSource, ListPage, ObjectInfo, ObjectStore, PutOptions } from './ports.js';

const MiB = 1024 * 1024;
/** S3's minimum size for every part of a multipart upload but the last. */
export const MIN_PART_BYTES = 5 * MiB;
/** S3's maximum part size (and the largest range one UploadPartCopy may copy). */
export const MAX_PART_BYTES = 5 * 1024 * MiB;
const MAX_DELETE_BATCH = 1000;
const MAX_LIST_KEYS = 1000;

export interface S3ObjectStoreOptions {
  client: S3Client;
  bucket: string;
  /** Prepended to every key (e.g. "tenant-a/"); invisible to callers. */
  prefix?: string;
}

export class S3ObjectStore implements ObjectStore {
  /** An append copies the kept prefix server-side: the flush writes active segments in chunks (design note 0011). */
  readonly appendCopiesPrefix = true;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(opts: S3ObjectStoreOptions) {
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ?? '';
  }

  async put(key: string, body: Uint8Array, opts?: PutOptions): Promise<void> {
    await this.putObject(key, body, opts ?? {});
  }

  private async putObject(key: string, body: Uint8Array, opts: AppendOptions): Promise<{ etag: string }> {
    try {
      const res = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: body,
          ContentLength: body.byteLength,
          ...(opts.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          ...(opts.ifMatch !== undefined ? { IfMatch: opts.ifMatch } : {}),
        }),
      );
      return { etag: res.ETag ?? '' };
    } catch (err) {
      if ((opts.ifNoneMatch || opts.ifMatch !== undefined) && isPreconditionFailed(err)) throw new PreconditionFailedError(key);
      // S3 answers If-Match on a missing key with 404.
      if (opts.ifMatch !== undefined && isNotFound(err)) throw new PreconditionFailedError(key);
      throw wrapAwsError(err, `S3 PutObject ${key}`);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    if (range) checkRange(key, range);
    // An empty range still has to say whether the object exists.
    if (range && range.end <= range.start) {
      if (!(await this.head(key))) throw new ObjectNotFoundError(key);
      return new Uint8Array(0);
    }
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
        }),
      );
      return res.Body ? await res.Body.transformToByteArray() : new Uint8Array(0);
    } catch (err) {
      if (isNotFound(err) || isMissingKeyDenial(err)) throw new ObjectNotFoundError(key);
      // 416: the object exists but the range starts at or past its end (S3 clamps only the end).
      if (range && httpStatusOf(err) === 416) return new Uint8Array(0);
      throw wrapAwsError(err, `S3 GetObject ${key}`);
    }
  }

  async presignGet(key: string, range: ByteRange, expiresInSeconds: number): Promise<string> {
    checkRange(key, range);
    // Loaded on first use: only the segments route presigns, and the API's init stays lean.
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    const command = new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Range: `bytes=${range.start}-${range.end - 1}` });
    // The Range header is signed (not hoisted into the query): the URL grants these bytes and
    // no others, and the caller must send exactly that header.
    return getSignedUrl(this.client, command, { expiresIn: expiresInSeconds, signableHeaders: new Set(['range']) });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return { key, size: res.ContentLength ?? 0, lastModified: res.LastModified?.getTime() ?? 0, ...(res.ETag ? { etag: res.ETag } : {}) };
    } catch (err) {
      if (isNotFound(err) || (httpStatusOf(err) === 403 && (await this.absentBehind403(key)))) return undefined;
      throw wrapAwsError(err, `S3 HeadObject ${key}`);
    }
  }

  /**
   * A HEAD answered 403 has no body to say why, and a missing key looks like that to a role
   * without s3:ListBucket. Ask again with a one-byte GET, whose error body does say.
   */
  private async absentBehind403(key: string): Promise<boolean> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Range: 'bytes=0-0' }));
      await res.Body?.transformToByteArray();
      return false;
    } catch (err) {
      return isNotFound(err) || isMissingKeyDenial(err);
    }
  }

  async delete(keys: string[]): Promise<void> {
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += MAX_DELETE_BATCH) {
      const batch = unique.slice(i, i + MAX_DELETE_BATCH);
      let errors;
      try {
        const res = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((k) => ({ Key: this.prefix + k })), Quiet: true },
          }),
        );
        errors = res.Errors ?? [];
      } catch (err) {
        throw wrapAwsError(err, `S3 DeleteObjects (${batch.length} keys)`);
      }
      // DeleteObjects reports per-key failures in a 200 response; absent keys are not failures.
      const real = errors.filter((e) => e.Code !== 'NoSuchKey');
      if (real.length > 0) {
        const first = real[0];
        const retriable = real.every((e) => e.Code === 'SlowDown' || e.Code === 'InternalError');
        throw new StorageError(
          `S3 DeleteObjects failed for ${real.length} key(s), first ${first?.Key}: ${first?.Code} ${first?.Message ?? ''}`,
          retriable,
        );
      }
    }
  }

  async list(prefix: string, opts?: { startAfter?: string; limit?: number }): Promise<ListPage> {
    const limit = Math.max(1, Math.min(opts?.limit ?? MAX_LIST_KEYS, MAX_LIST_KEYS));
    try {
      const res = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          MaxKeys: limit,
          ...(opts?.startAfter !== undefined ? { StartAfter: this.prefix + opts.startAfter } : {}),
        }),
      );
      const objects: ObjectInfo[] = (res.Contents ?? []).map((o) => ({
        key: (o.Key ?? '').slice(this.prefix.length),
        size: o.Size ?? 0,
        lastModified: o.LastModified?.getTime() ?? 0,
      }));
      const last = objects[objects.length - 1];
      return res.IsTruncated && last ? { objects, next: last.key } : { objects };
    } catch (err) {
      throw wrapAwsError(err, `S3 ListObjectsV2 ${prefix}`);
    }
  }

  async append(key: string, keepBytes: number, parts: Uint8Array | readonly Uint8Array[], opts: AppendOptions = {}): Promise<{ etag: string }> {
    if (!Number.isSafeInteger(keepBytes) || keepBytes < 0) {
      throw new InvalidRangeError(key, `keepBytes must be a non-negative integer, got ${keepBytes}`);
    }
    // A request body is one array here anyway.
    const body = parts instanceof Uint8Array ? parts : concatBytes(parts);
    if (keepBytes === 0) return this.putObject(key, body, opts);
    if (keepBytes < MIN_PART_BYTES) return this.appendSmall(key, keepBytes, body, opts);
    return this.appendLarge(key, keepBytes, body, opts);
  }

  /** Small prefix: read it (≤ 5 MiB) and write prefix + body in one PUT. */
  private async appendSmall(key: string, keepBytes: number, body: Uint8Array, opts: AppendOptions): Promise<{ etag: string }> {
    const kept = await this.get(key, { start: 0, end: keepBytes });
    if (kept.byteLength < keepBytes) {
      throw new InvalidRangeError(key, `object holds ${kept.byteLength} bytes, cannot keep ${keepBytes}`);
    }
    const joined = new Uint8Array(keepBytes + body.byteLength);
    joined.set(kept, 0);
    joined.set(body, keepBytes);
    return this.putObject(key, joined, opts);
  }

  /** Large prefix: server-side copy of [0, keepBytes) as leading parts, body as the last part. */
  private async appendLarge(key: string, keepBytes: number, body: Uint8Array, opts: AppendOptions): Promise<{ etag: string }> {
    // With If-Match the caller already knows the version (and that it holds keepBytes): the
    // copy is pinned to that ETag and the completion is conditional on it, so no HEAD is needed.
    const info = opts.ifMatch !== undefined ? { size: keepBytes, etag: opts.ifMatch } : await this.headWithEtag(key);
    if (!info) throw new ObjectNotFoundError(key);
    if (info.size < keepBytes) {
      throw new InvalidRangeError(key, `object holds ${info.size} bytes, cannot keep ${keepBytes}`);
    }
    if (info.size === keepBytes && body.byteLength === 0) return { etag: info.etag ?? '' };

    try {
      // The copied ranges and the new body go up together: a server-side copy of a large prefix
      // takes a while, and uploading the body meanwhile hides its transfer (a flush function is
      // billed for the wall time). Copy from exactly the version we sized, not a concurrent
      // replacement; If-Match on completion (S3, since 2024) makes the replace itself
      // conditional: a stale writer cannot clobber a newer version between our HEAD and it.
      return await this.multipart(key, opts, (part) => {
        for (const [start, end] of copyRanges(keepBytes)) part.copy(key, start, end, info.etag);
        if (body.byteLength > 0) part.upload(body);
      });
    } catch (err) {
      if (isNotFound(err)) throw opts.ifMatch !== undefined ? new PreconditionFailedError(key) : new ObjectNotFoundError(key);
      if (isPreconditionFailed(err)) {
        if (opts.ifMatch !== undefined) throw new PreconditionFailedError(key);
        throw new StorageError(`S3 append ${key}: object changed while composing; retry`, true, { cause: err });
      }
      throw wrapAwsError(err, `S3 append ${key}`);
    }
  }

  /**
   * One multipart upload of `key`: `parts` starts its parts (numbered in call order), which go
   * up together; all settle before anything is decided, then the completion, conditional as
   * `opts` says. A failure aborts the upload with no part still in flight, and is rethrown as
   * the SDK raised it (the caller names it).
   */
  private async multipart(key: string, opts: AppendOptions, parts: (part: { copy(src: string, start: number, end: number, etag?: string): void; upload(body: Uint8Array): void }) => void): Promise<{ etag: string }> {
    const Key = this.prefix + key;
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key }));
      const UploadId = (uploadId = created.UploadId);
      if (!UploadId) throw new StorageError(`S3 CreateMultipartUpload ${key} returned no UploadId`);
      const sends: Array<Promise<CompletedPart>> = [];
      parts({
        copy: (src, start, end, etag) => {
          const PartNumber = sends.length + 1;
          const CopySource = `${this.bucket}/${encodeCopyKey(this.prefix + src)}`;
          const copy = new UploadPartCopyCommand({ Bucket: this.bucket, Key, UploadId, PartNumber, CopySource, CopySourceRange: `bytes=${start}-${end - 1}`, ...(etag ? { CopySourceIfMatch: etag } : {}) });
          sends.push(this.client.send(copy).then((res) => ({ PartNumber, ETag: res.CopyPartResult?.ETag })));
        },
        upload: (body) => {
          const PartNumber = sends.length + 1;
          const upload = new UploadPartCommand({ Bucket: this.bucket, Key, UploadId, PartNumber, Body: body, ContentLength: body.byteLength });
          sends.push(this.client.send(upload).then((res) => ({ PartNumber, ETag: res.ETag })));
        },
      });
      const settled = await Promise.allSettled(sends);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const done = await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: settled.map((r) => (r as PromiseFulfilledResult<CompletedPart>).value) },
          ...(opts.ifMatch !== undefined ? { IfMatch: opts.ifMatch } : opts.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return { etag: done.ETag ?? '' };
    } catch (err) {
      if (uploadId) await this.abort(Key, uploadId);
      throw err;
    }
  }

  /**
   * One multipart upload: a source of at least MIN_PART_BYTES is a server-side UploadPartCopy
   * (pinned to its ETag when given); smaller ones are read and uploaded, joined with what
   * follows until the part reaches the minimum (only the last part may be smaller). Parts go up
   * together and all settle before the completion, which is conditional like `append`'s.
   */
  async compose(key: string, sources: readonly ComposeSource[], opts: AppendOptions = {}): Promise<{ etag: string }> {
    // A server-side copy checks nothing the contract promises (a range past the source's end is
    // an InvalidArgument on S3, copied short on moto, and moto ignores CopySourceIfMatch), and a
    // ranged GET does not check a pinned ETag: every source is looked at first, together — a
    // HEAD each, a fraction of a copy.
    const held = await Promise.all(sources.map((src) => this.headWithEtag(src.key)));
    sources.forEach((src, i) => checkComposeSource(src, held[i]));
    const total = sources.reduce((n, s) => n + s.size, 0);
    const readSource = async (src: ComposeSource): Promise<Uint8Array> => {
      const bytes = src.size === 0 ? new Uint8Array(0) : await this.get(src.key, { start: 0, end: src.size });
      // Shorter than the HEAD said: replaced meanwhile.
      if (bytes.length < src.size) throw new InvalidRangeError(src.key, `object holds ${bytes.length} bytes, cannot copy ${src.size}`);
      return bytes;
    };
    if (total < MIN_PART_BYTES) {
      // Too small for a multipart upload's first part: one PUT of the bytes.
      const bytes: Uint8Array[] = [];
      for (const src of sources) bytes.push(await readSource(src));
      return this.putObject(key, concatBytes(bytes), opts);
    }
    // Sources are read before the upload starts, so that a read failure leaves nothing to abort.
    const uploads: Array<Uint8Array | ComposeSource> = [];
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    for (const src of sources) {
      if (src.size === 0) continue;
      if (pendingBytes === 0 && src.size >= MIN_PART_BYTES) {
        uploads.push(src);
        continue;
      }
      // A small source, or one following small ones: joined into a part of at least the minimum.
      const bytes = await readSource(src);
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= MIN_PART_BYTES) {
        uploads.push(concatBytes(pending));
        pending = [];
        pendingBytes = 0;
      }
    }
    if (pendingBytes > 0) uploads.push(concatBytes(pending));
    try {
      return await this.multipart(key, opts, (part) => {
        for (const u of uploads) {
          if (u instanceof Uint8Array) part.upload(u);
          else for (const [start, end] of copyRanges(u.size)) part.copy(u.key, start, end, u.etag);
        }
      });
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (isPreconditionFailed(err)) throw new PreconditionFailedError(key);
      if (isNotFound(err)) throw opts.ifMatch !== undefined ? new PreconditionFailedError(key) : new ObjectNotFoundError(key);
      throw wrapAwsError(err, `S3 compose ${key}`);
    }
  }

  private async headWithEtag(key: string): Promise<{ size: number; etag?: string } | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return { size: res.ContentLength ?? 0, ...(res.ETag ? { etag: res.ETag } : {}) };
    } catch (err) {
      if (isNotFound(err) || (httpStatusOf(err) === 403 && (await this.absentBehind403(key)))) return undefined;
      throw wrapAwsError(err, `S3 HeadObject ${key}`);
    }
  }

  /** Best effort: the bucket lifecycle rule aborts anything we leave behind after a day. */
  private async abort(Key: string, UploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }));
    } catch {
      // ignore: the original failure is what the caller needs to see
    }
  }

  async close(): Promise<void> {
    // Clients are shared (see aws-clients.ts); whoever built the client destroys it.
  }
}

/**
 * Splits [0, n) into the fewest parts of at most 5 GiB, of equal size, so that every part
 * stays above the 5 MiB minimum (n ≥ 5 MiB is the caller's guarantee).
 */
export function copyRanges(n: number): Array<[number, number]> {
  const count = Math.ceil(n / MAX_PART_BYTES);
  const size = Math.ceil(n / count);
  const out: Array<[number, number]> = [];
  for (let start = 0; start < n; start += size) out.push([start, Math.min(n, start + size)]);
  return out;
}

/** CopySource is "bucket/key" with the key URL-encoded except for its slashes. */
function encodeCopyKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function checkRange(key: string, range: ByteRange): void {
  if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0) {
    throw new InvalidRangeError(key, `invalid byte range [${range.start}, ${range.end})`);
  }
}

/** The key is absent (not the bucket, not a multipart upload: those are real failures). */
function isNotFound(err: unknown): boolean {
  const name = sdkError(err).name;
  if (name === 'NoSuchKey' || name === 'NotFound') return true;
  // HEAD responses carry no body, so some endpoints yield a bare 404 with a generic name.
  return httpStatusOf(err) === 404 && (name === undefined || name === 'UnknownError' || name === 'Unknown');
}

/**
 * S3 answers a GET of a missing key with 403 AccessDenied instead of 404 when the caller lacks
 * s3:ListBucket (so that the answer does not reveal whether the key exists). The deployment
 * grants ListBucket on Samsa's prefixes, but a narrower policy (or an SCP) would turn every
 * not-found the read path relies on — a fetch racing a flush's deletes, an offset below the
 * log start — into a 500. So AccessDenied on reading a key means "absent", unless the message
 * names another denied action: S3 names it in same-account messages ("… is not authorized to
 * perform: s3:GetObject …"), and a role that may not read at all must fail loudly, not look
 * like an empty store. Expired or wrong credentials have codes of their own (ExpiredToken,
 * InvalidAccessKeyId, SignatureDoesNotMatch) and stay errors.
 */
export function isMissingKeyDenial(err: unknown): boolean {
  const { name, message } = sdkError(err);
  if (httpStatusOf(err) !== 403 || name !== 'AccessDenied') return false;
  const action = /not authorized to perform:?\s*(s3:[A-Za-z]+)/.exec(message ?? '')?.[1];
  return action === undefined || action === 's3:ListBucket';
}

function isPreconditionFailed(err: unknown): boolean {
  return sdkError(err).name === 'PreconditionFailed' || httpStatusOf(err) === 412;
}
