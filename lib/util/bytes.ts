// Byte-array helpers shared by the flusher (segment bytes from many batches), the object
// stores (an append's body in parts), the reader and the Kafka listener.

/** The parts end to end: the part itself when there is one (no copy), else one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
