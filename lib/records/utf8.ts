// Text a record carries as its UTF-8 bytes, not yet encoded. The JSON produce route hands the
// parsed strings over as they are and the batch encoder writes them straight into the batch:
// encoding each value into a buffer of its own first, then copying that into the batch, was an
// allocation and two passes over every byte of a keyed JSON request (issue 18).

export class Utf8 {
  /** UTF-8 byte length, as `Uint8Array#length` is for bytes (measured once, here). */
  readonly length: number;

  constructor(readonly text: string) {
    // Lone surrogates count as U+FFFD (3 bytes), as Buffer#write and TextEncoder encode them.
    this.length = Buffer.byteLength(text, 'utf8');
  }

  /** Every character is ASCII (one UTF-8 byte each): no character adds bytes to the length. */
  get ascii(): boolean {
    return this.length === this.text.length;
  }

  /** The bytes, in a buffer of their own (for what needs them as bytes). */
  bytes(): Uint8Array {
    return Buffer.from(this.text, 'utf8');
  }

  /** Writes the bytes into `buf` at `pos` (room for `length` bytes is the caller's); the end. */
  writeInto(buf: Buffer, pos: number): number {
    // ASCII is the same bytes in latin1, which V8 copies without UTF-8 transcoding.
    buf.write(this.text, pos, this.length, this.ascii ? 'latin1' : 'utf8');
    return pos + this.length;
  }
}

/** A key or value as the encoder takes it: bytes, or text to write as UTF-8. */
export type RecordBytes = Uint8Array | Utf8;
