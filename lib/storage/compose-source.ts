// What ObjectStore.compose promises about each source, checked the same way by every adapter
// against what the store says the source holds (lib/storage/ports.ts).
import { InvalidRangeError, ObjectNotFoundError, PreconditionFailedError } from '../errors.js';
import type { ComposeSource } from './ports.js';

/** Throws as the port says: a bad size, an absent source, another version, or too few bytes. */
export function checkComposeSource(src: ComposeSource, held: { size: number; etag?: string } | undefined): void {
  if (!Number.isSafeInteger(src.size) || src.size < 0) throw new InvalidRangeError(src.key, `invalid source size ${src.size}`);
  if (!held) throw new ObjectNotFoundError(src.key);
  if (src.etag !== undefined && held.etag !== src.etag) throw new PreconditionFailedError(src.key);
  if (held.size < src.size) throw new InvalidRangeError(src.key, `object holds ${held.size} bytes, cannot copy ${src.size}`);
}
