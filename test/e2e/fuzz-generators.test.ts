// The fuzzer (npm run test:fuzz) draws requests from the served /openapi.json. Its generator
// must be able to build every request a seed draws: seed 9101 drew a query value holding a lone
// surrogate, encodeURIComponent threw a URIError, and the whole run died after no requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecsReady } from '../../lib/records';
import { encodeQueryValue, fromSpec, type OpenApiDoc, operations, Rng } from '../fuzz/generators';
import { type ServerHandle, startServer } from '../helpers/server';

let server: ServerHandle;
beforeAll(async () => {
  await codecsReady();
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

describe('fuzz request generator', () => {
  it('builds every request of the first 20,000 draws of seed 9101 (the run that died on a lone surrogate)', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as OpenApiDoc;
    const ops = operations(doc);
    let fromSpecCount = 0;
    for (let i = 0; i < 20_000; i++) {
      const r = new Rng(9101, i);
      // Each draw has its own stream, so the hostile draws (not from the document) can be skipped.
      if (!r.bool(0.45)) continue;
      expect(fromSpec(doc, ops, r).path.startsWith('/')).toBe(true);
      fromSpecCount++;
    }
    expect(fromSpecCount).toBeGreaterThan(8000);
  });

  it('sends a lone surrogate in a query value as its invalid UTF-8 bytes, and anything else as encodeURIComponent does', () => {
    expect(encodeQueryValue('a\uD800b')).toBe('a%ED%A0%80b');
    expect(encodeQueryValue('\uDFFF')).toBe('%ED%BF%BF');
    for (const s of ['x y', 'ü&=?#', '😀', '']) expect(encodeQueryValue(s)).toBe(encodeURIComponent(s));
  });
});
