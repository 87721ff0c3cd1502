// The hot JSON produce route's hand-written body check (produce-check.ts) must accept only
// what the zod schema accepts, and read it the same way; what it refuses goes to zod, which
// words the error. Checked on a corpus of valid bodies and single-field mutations of them.
import { describe, expect, it } from 'vitest';
import { checkProduceBody, checkTopicName } from '../../../lib/http/produce-check';
import * as S from '../../../lib/http/schemas';

const base = (): Record<string, unknown> => ({
  value_format: 'string',
  records: [
    { key: 'k', value: 'v', headers: [{ key: 'h', value: 'x' }, { key: 'n', value: null }], partition: 1, timestamp: 5 },
    { value: null },
    { key: null, value: { a: [1] } },
  ],
});

const bad: unknown[] = [undefined, null, -1, 1.5, 2 ** 53, '1', [], {}, true, 32768, 2147483648, NaN];
function mutations(): unknown[] {
  const out: unknown[] = [base(), { records: [{ value: 1 }] }, { records: [{ value: 'x' }], producer: { id: 3, epoch: 2, sequence: 9 }, extra: 1 }];
  out.push(null, [], 'x', {}, { records: [] }, { records: {} }, { records: Array.from({ length: S.MAX_RECORDS_PER_REQUEST + 1 }, () => ({ value: 1 })) });
  for (const f of ['key_format', 'value_format']) for (const v of ['json', 'base64', 'string', 'xml', 1, null]) out.push({ ...base(), [f]: v });
  for (const field of ['partition', 'timestamp']) for (const v of bad) out.push({ records: [{ value: 1, [field]: v }] });
  for (const field of ['id', 'epoch', 'sequence']) {
    for (const v of bad) out.push({ records: [{ value: 1 }], producer: { id: 1, epoch: 1, sequence: 1, [field]: v } });
    const p: Record<string, unknown> = { id: 1, epoch: 1, sequence: 1 };
    delete p[field];
    out.push({ records: [{ value: 1 }], producer: p });
  }
  for (const h of [null, 'x', [null], [{ key: 1, value: 'x' }], [{ key: 'k' }], [{ key: 'k', value: 1 }], [{ key: 'k', value: 'v', more: 1 }], Array.from({ length: 1001 }, () => ({ key: 'k', value: null }))]) {
    out.push({ records: [{ value: 1, headers: h }] });
  }
  out.push({ records: [{ key: 'no value' }] }, { records: [null] }, { records: [[1]] }, { records: [{ value: 1 }], producer: null }, { records: [{ value: 1 }], producer: [1, 2, 3] });
  return out;
}

describe('checkProduceBody', () => {
  it('accepts nothing zod refuses, and reads what it accepts as zod does', () => {
    let accepted = 0;
    for (const body of mutations()) {
      const mine = checkProduceBody(body);
      const theirs = S.ProduceBody.safeParse(body);
      if (!mine) continue;
      accepted++;
      expect(theirs.success, JSON.stringify(body)?.slice(0, 200)).toBe(true);
      const z = theirs.data!;
      expect(mine.key_format).toBe(z.key_format);
      expect(mine.value_format).toBe(z.value_format);
      expect(mine.producer).toEqual(z.producer);
      expect(mine.records.length).toBe(z.records.length);
      mine.records.forEach((r, i) => {
        const zr = z.records[i]!;
        for (const f of ['key', 'value', 'partition', 'timestamp'] as const) expect(r[f], f).toEqual(zr[f]);
        // The route reads a header's key and value only (zod strips any other field).
        expect(r.headers?.map((h) => ({ key: h.key, value: h.value }))).toEqual(zr.headers);
      });
    }
    expect(accepted).toBeGreaterThan(10);
  });

  it('takes the common shapes without zod', () => {
    expect(checkProduceBody(base())).toBeDefined();
    expect(checkProduceBody({ records: [{ key: 'k', value: 'v' }] })).toMatchObject({ key_format: 'string', value_format: 'json' });
  });

  it('checks topic names as the schema does', () => {
    for (const name of ['orders', 'a.b_c-1', '.', '..', '', 'x'.repeat(249), 'x'.repeat(250), 'a/b', 'é', 'a b']) {
      expect(checkTopicName(name) !== undefined, name).toBe(S.TopicName.safeParse(name).success);
    }
  });
});
