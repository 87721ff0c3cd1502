// Hand-built record bytes for hostile-input tests and the fuzzer: the zigzag varints the record
// grammar uses for lengths and counts, as a byte list to splice into a record.
import { sizeOfVarlong, writeVarlong } from '../../lib/records/varint';

/** `v` as a zigzag varint (exact for |v| < 2^53, as lying lengths and counts may need). */
export function zigzag(v: number): number[] {
  const out = new Uint8Array(sizeOfVarlong(v));
  writeVarlong(out, 0, v);
  return [...out];
}
