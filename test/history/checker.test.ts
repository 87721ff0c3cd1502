// The checker on synthetic histories: a clean one (valid, including legitimate redelivery,
// proxy-duplicated plain writes and writes lost with a deleted topic incarnation), and one
// history per anomaly kind that must be reported — so the checker demonstrably can fail.
import { describe, expect, it } from 'vitest';
import { ANOMALY_KINDS, check, type AnomalyKind } from './checker';
import type { Obs, Op } from './history';

/** Builds histories: each call adds an invoke at `t` and a completion at `t + 1`. */
class H {
  ops: Op[] = [];
  private id = 1;
  private t = 0;
  private add(invoke: Record<string, unknown>, done: Record<string, unknown>, opts: { at?: number; dur?: number } = {}): number {
    const id = this.id++;
    const start = opts.at ?? (this.t += 10);
    const end = start + (opts.dur ?? 1);
    this.t = Math.max(this.t, end);
    this.ops.push({ ...invoke, type: 'invoke', id, time: start, index: this.ops.length } as unknown as Op);
    this.ops.push({ ...invoke, ...done, id, time: end, index: this.ops.length } as unknown as Op);
    return id;
  }
  send(process: string, topic: string, values: Array<[value: string, partition: number, offset: number]>, o: { type?: 'ok' | 'fail' | 'info'; write?: string; producer?: { id: number; epoch: number; sequence: number }; at?: number; dur?: number } = {}): number {
    const type = o.type ?? 'ok';
    return this.add(
      { f: 'send', process, topic, format: 'json', values: values.map(([value, partition]) => ({ value, partition })), write: o.write ?? values[0]![0], ...(o.producer ? { producer: o.producer } : {}) },
      { type, ...(type === 'ok' ? { acks: values.map(([, partition, offset]) => ({ partition, offset })) } : {}), ...(type === 'fail' ? { status: 409 } : {}) },
      o,
    );
  }
  fetch(process: string, topic: string, partition: number, offset: number, recs: Array<[offset: number, value: string]>, o: { at?: number; dur?: number } = {}): void {
    this.add({ f: 'fetch', process, topic, partition, offset }, { type: 'ok', records: recs.map(([off, value]) => ({ topic, partition, offset: off, value })) }, o);
  }
  poll(process: string, group: string, member: string, mode: 'auto' | 'explicit', generation: number, assignment: Array<[string, number]>, recs: Array<[string, number, number, string]>, type: 'ok' | 'info' = 'ok'): void {
    this.add(
      { f: 'poll', process, group, member, mode },
      type === 'ok'
        ? { type, generation, assignment: assignment.map(([topic, partition]) => ({ topic, partition })), records: recs.map(([topic, partition, offset, value]) => ({ topic, partition, offset, value })) }
        : { type },
    );
  }
  commit(process: string, group: string, member: string, generation: number, offsets: Array<[string, number, number]>): void {
    this.add({ f: 'commit', process, group, member, generation, offsets: offsets.map(([topic, partition, offset]) => ({ topic, partition, offset })) }, { type: 'ok' });
  }
  topic(f: 'delete-topic' | 'create-topic', topic: string): void {
    this.add({ f, process: 'nemesis', topic }, { type: 'ok' });
  }
  proxyDup(op: number): void {
    this.ops.push({ f: 'proxy-dup', process: 'proxy', op, type: 'ok', id: this.id++, time: this.t, index: this.ops.length } as unknown as Op);
  }
  finalRead(topic: string, partition: number, recs: string[], o: { logStart?: number; type?: 'ok' | 'fail' } = {}): void {
    const ls = o.logStart ?? 0;
    const records: Obs[] = recs.map((value, i) => ({ topic, partition, offset: ls + i, value }));
    this.add({ f: 'final-read', process: 'final', topic, partition }, o.type === 'fail' ? { type: 'fail', status: 500, error: 'corrupt' } : { type: 'ok', records, log_start_offset: ls, high_watermark: ls + recs.length });
  }
  finalGroup(group: string): void {
    this.add({ f: 'final-group', process: 'final', group }, { type: 'ok' });
  }
}

function only(result: ReturnType<typeof check>): Partial<Record<AnomalyKind, number>> {
  return Object.fromEntries(ANOMALY_KINDS.filter((k) => result.counts[k] > 0).map((k) => [k, result.counts[k]]));
}

/** A clean history that exercises every op kind and the legitimate corner cases. */
function clean(): H {
  const h = new H();
  h.send('p1', 't', [['a', 0, 0], ['b', 0, 1]]);
  h.send('p1', 't', [['c', 0, 2]]);
  // An indeterminate send that did land, and one that did not: neither is an anomaly.
  h.send('p2', 't', [['d', 1, 0]], { type: 'info' });
  h.send('p2', 't', [['e', 1, 0]], { type: 'info' });
  // An idempotent send retried after an indeterminate attempt: same offsets.
  h.send('p3', 't', [['f', 1, 1]], { type: 'info', write: 'w-f', producer: { id: 1, epoch: 0, sequence: 0 } });
  h.send('p3', 't', [['f', 1, 1]], { write: 'w-f', producer: { id: 1, epoch: 0, sequence: 0 } });
  // A plain send the proxy forwarded twice: written twice, legitimately.
  const dup = h.send('p2', 't', [['g', 1, 3]]);
  h.proxyDup(dup);
  h.fetch('r1', 't', 0, 0, [[0, 'a'], [1, 'b'], [2, 'c']]);
  h.fetch('r1', 't', 1, 1, [[1, 'f'], [2, 'g'], [3, 'g']]);
  // Group members: an explicit member commits; after a lost poll it gets the records again.
  h.poll('m1', 'g', 'A', 'explicit', 1, [['t', 0]], [['t', 0, 0, 'a'], ['t', 0, 1, 'b']]);
  h.commit('m1', 'g', 'A', 1, [['t', 0, 2]]);
  h.poll('m1', 'g', 'A', 'explicit', 1, [['t', 0]], [], 'info');
  h.poll('m1', 'g', 'A', 'explicit', 1, [['t', 0]], [['t', 0, 2, 'c']]);
  // An auto member redelivered from an earlier position after a rebalance (new generation).
  h.poll('m2', 'g', 'B', 'auto', 1, [['t', 1]], [['t', 1, 0, 'd'], ['t', 1, 1, 'f']]);
  h.poll('m2', 'g', 'B', 'auto', 2, [['t', 1]], [['t', 1, 0, 'd'], ['t', 1, 1, 'f'], ['t', 1, 2, 'g'], ['t', 1, 3, 'g']]);
  // Churn: an acknowledged write to a deleted incarnation may vanish; the new one starts at 0.
  h.send('p1', 'c', [['x', 0, 0]]);
  // A plain send the proxy forwarded twice whose answer was a refusal: the other copy may have
  // written it, and a reader saw it in this incarnation (seen with AWS seed 411: the second copy
  // reached the server after the topic's deletion and got its 404).
  const twice = h.send('p2', 'c', [['x2', 0, 1]], { type: 'fail' });
  h.proxyDup(twice);
  h.fetch('r1', 'c', 0, 0, [[0, 'x'], [1, 'x2']]);
  h.topic('delete-topic', 'c');
  h.topic('create-topic', 'c');
  h.send('p1', 'c', [['y', 0, 0]]);
  h.poll('m1', 'g', 'A', 'explicit', 3, [['c', 0]], [['c', 0, 0, 'y']]);
  h.finalRead('t', 0, ['a', 'b', 'c']);
  h.finalRead('t', 1, ['d', 'f', 'g', 'g']);
  h.finalRead('c', 0, ['y']);
  h.poll('final', 'g', 'F', 'explicit', 4, [['t', 0], ['t', 1], ['c', 0]], [['t', 0, 0, 'a'], ['t', 0, 1, 'b'], ['t', 0, 2, 'c'], ['t', 1, 0, 'd'], ['t', 1, 1, 'f'], ['t', 1, 2, 'g'], ['t', 1, 3, 'g'], ['c', 0, 0, 'y']]);
  h.finalGroup('g');
  return h;
}

describe('history checker', () => {
  it('finds nothing in a clean history', () => {
    const r = check(clean().ops);
    expect(only(r)).toEqual({});
    expect(r.valid).toBe(true);
    expect(r.stats['duplicate-allowed (proxy forwarded twice)']).toBe(1);
    expect(r.stats['acknowledged-writes-to-deleted-incarnations']).toBe(1);
  });

  const cases: Array<[AnomalyKind, string, (h: H) => void, Partial<Record<AnomalyKind, number>>?]> = [
    ['lost-write', 'an acknowledged write absent from the final read', (h) => h.send('p9', 't', [['z', 0, 3]]), { 'lost-write': 1 }],
    [
      'duplicate',
      'one write at two offsets (no proxy duplication, idempotent retry)',
      (h) => {
        h.send('p9', 't', [['z', 0, 3]], { type: 'info', write: 'w-z', producer: { id: 2, epoch: 0, sequence: 0 } });
        h.send('p9', 't', [['z', 0, 4]], { write: 'w-z', producer: { id: 2, epoch: 0, sequence: 0 } });
        h.fetch('r9', 't', 0, 3, [[3, 'z'], [4, 'z']]);
      },
      // The retry's ack says 4, and 3 holds the same value: the duplicate is the anomaly; the
      // final read (of the clean history) does not contain z at all, hence a lost write too.
      { duplicate: 1, 'lost-write': 1 },
    ],
    ['inconsistent-offsets', 'two reads disagree on an offset', (h) => h.fetch('r9', 't', 0, 2, [[2, 'b']]), { 'inconsistent-offsets': 1, duplicate: 1, 'ack-mismatch': 1 }],
    [
      'ack-mismatch',
      'an acknowledged offset holds another value',
      (h) => {
        h.send('p9', 't', [['z', 0, 1]]);
        h.fetch('r9', 't', 0, 3, [[3, 'z']]);
      },
      { 'ack-mismatch': 1, 'lost-write': 1 },
    ],
    [
      'nonmonotonic-send',
      "a producer's later write gets a lower offset",
      (h) => {
        h.send('p9', 'u', [['u1', 0, 5]]);
        h.send('p9', 'u', [['u2', 0, 4]]);
      },
      { 'nonmonotonic-send': 1 },
    ],
    [
      'poll-skip',
      'an auto member loses a poll response and the next poll starts after it',
      (h) => {
        h.poll('m9', 'g2', 'Z', 'auto', 1, [['t', 0]], [['t', 0, 0, 'a']]);
        h.poll('m9', 'g2', 'Z', 'auto', 1, [['t', 0]], [], 'info');
        h.poll('m9', 'g2', 'Z', 'auto', 1, [['t', 0]], [['t', 0, 2, 'c']]);
      },
      { 'poll-skip': 1, 'group-skip': 1 },
    ],
    [
      'nonmonotonic-poll',
      'an explicit member is sent records below its acknowledged commit',
      (h) => {
        h.poll('m9', 'g2', 'Z', 'explicit', 1, [['t', 0]], [['t', 0, 0, 'a'], ['t', 0, 1, 'b']]);
        h.commit('m9', 'g2', 'Z', 1, [['t', 0, 2]]);
        h.poll('m9', 'g2', 'Z', 'explicit', 1, [['t', 0]], [['t', 0, 1, 'b'], ['t', 0, 2, 'c']]);
      },
      { 'nonmonotonic-poll': 1 },
    ],
    [
      'group-skip',
      "a group's first poll of a partition starts past its log start (no member ever received offset 0)",
      (h) => h.poll('m9', 'g3', 'Y', 'explicit', 1, [['t', 0]], [['t', 0, 1, 'b'], ['t', 0, 2, 'c']]),
      { 'group-skip': 1 },
    ],
    ['fetch-skip', 'a fetch starting past the requested offset', (h) => h.fetch('r9', 't', 0, 0, [[1, 'b'], [2, 'c']]), { 'fetch-skip': 1 }],
    [
      'read-of-failed-write',
      'a refused write is read',
      (h) => {
        h.send('p9', 't', [['z', 0, 3]], { type: 'fail' });
        h.fetch('r9', 't', 0, 3, [[3, 'z']]);
      },
      { 'read-of-failed-write': 1 },
    ],
    ['phantom-read', 'a value nobody wrote', (h) => h.fetch('r9', 't', 0, 3, [[3, 'never-written']]), { 'phantom-read': 1 }],
    [
      'incarnation-leak',
      'a write acknowledged by a deleted incarnation shows up in the new one',
      (h) => h.fetch('r9', 'c', 0, 0, [[0, 'x']]),
      // Offset 0 of the new incarnation now has two values, one of them not the acknowledged y.
      { 'incarnation-leak': 1, 'inconsistent-offsets': 1, 'ack-mismatch': 1 },
    ],
  ];

  for (const [kind, what, mutate, expected] of cases) {
    it(`reports ${kind}: ${what}`, () => {
      const base = clean();
      // Insert the anomaly before the final phase: rebuild with the mutation in the middle.
      const h = new H();
      const finals = base.ops.filter((o) => o.f === 'final-read' || o.f === 'final-group' || o.process === 'final');
      const firstFinal = base.ops.indexOf(finals[0]!);
      h.ops = base.ops.slice(0, firstFinal).map((o) => ({ ...o }));
      Object.assign(h, { id: 10_000, t: Math.max(...h.ops.map((o) => o.time)) });
      mutate(h);
      const tail = base.ops.slice(firstFinal);
      const shift = Math.max(...h.ops.map((o) => o.time)) + 10 - tail[0]!.time;
      for (const o of tail) h.ops.push({ ...o, time: o.time + shift, index: h.ops.length });
      const r = check(h.ops);
      expect(r.counts[kind], JSON.stringify(r.examples)).toBeGreaterThan(0);
      if (expected) expect(only(r)).toEqual(expected);
      expect(r.valid).toBe(false);
      expect(r.examples[kind].length).toBeGreaterThan(0);
    });
  }

  it('reports an unreadable partition in the final phase', () => {
    const h = clean();
    h.finalRead('t', 0, [], { type: 'fail' });
    const r = check(h.ops);
    expect(r.counts.unreadable).toBe(1);
    // Its acknowledged writes are not double-counted as lost.
    expect(r.counts['lost-write']).toBe(0);
  });

  it('reports a final read that stops short of the high watermark', () => {
    const h = clean();
    const last = h.ops.findLast((o) => o.f === 'final-read' && o.type === 'ok' && o.partition === 0 && o.topic === 't')!;
    Object.assign(last, { high_watermark: 5 });
    expect(check(h.ops).counts.unreadable).toBe(1);
  });

  it('does not attribute reads that straddle a topic re-creation', () => {
    const h = clean();
    // A fetch of `c` invoked before the delete and completed after the re-create: either
    // incarnation; its offsets must not be compared with the new incarnation's.
    const del = h.ops.find((o) => o.f === 'delete-topic')!;
    h.fetch('r9', 'c', 0, 0, [[0, 'x']], { at: del.time - 5, dur: 100 });
    expect(only(check(h.ops))).toEqual({});
  });

  it("does not let a straddling poll's old-incarnation offsets stretch the new incarnation's coverage", () => {
    const h = clean();
    const del = h.ops.find((o) => o.f === 'delete-topic')!;
    // Offset 7 of the old `c` (read across the re-creation) says nothing about how far the
    // group got in the new `c`, which has one record.
    h.ops.push(
      { f: 'poll', process: 'm9', group: 'g', member: 'Q', mode: 'auto', type: 'invoke', id: 90_000, time: del.time - 5, index: h.ops.length } as unknown as Op,
      { f: 'poll', process: 'm9', group: 'g', member: 'Q', mode: 'auto', type: 'ok', id: 90_000, time: del.time + 100, index: h.ops.length + 1, generation: 3, assignment: [{ topic: 'c', partition: 0 }], records: [{ topic: 'c', partition: 0, offset: 7, value: 'x' }] } as unknown as Op,
    );
    expect(only(check(h.ops))).toEqual({});
  });
});
