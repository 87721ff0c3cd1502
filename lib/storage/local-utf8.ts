// UTF-8 byte ordering for the embedded adapters. S3 lists keys and DynamoDB sorts keys by
// their UTF-8 bytes; JavaScript's `<` compares UTF-16 code units, which disagrees for
// characters above U+FFFF versus U+E000..U+FFFF. Both local adapters order with these.

/** Maps a UTF-16 code unit so that code-unit order equals code-point (= UTF-8 byte) order. */
const fixup = (u: number): number => (u >= 0xd800 ? (u <= 0xdfff ? u + 0x2000 : u - 0x800) : u);

/** Negative, zero or positive as `a` sorts before, with or after `b` in UTF-8 byte order. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fixup(x) - fixup(y);
  }
  return a.length - b.length;
}

/**
 * The least string greater than every string that starts with `prefix` (exclusive upper
 * bound for a prefix scan), or undefined when no such bound exists (empty prefix, or a prefix
 * made only of U+10FFFF).
 */
export function prefixSuccessor(prefix: string): string | undefined {
  const cps = Array.from(prefix, (c) => c.codePointAt(0) as number);
  while (cps.length > 0) {
    const last = cps.pop() as number;
    if (last < 0x10ffff) {
      // Skip the surrogate block: those code points never occur in well-formed text.
      cps.push(last === 0xd7ff ? 0xe000 : last + 1);
      return String.fromCodePoint(...cps);
    }
  }
  return undefined;
}
