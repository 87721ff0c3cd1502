// The history checker, in the spirit of Jepsen's Kafka workload (elle's kafka checker): pure,
// from a list of ops (history.ts) to anomaly counts with examples. The argument for each check,
// and why it cannot fire on a correct system, is in docs/design/0008-history-checker.md.
//
// Topic churn: a topic deleted and re-created under the same name is a new incarnation. An op
// is attributed to incarnation k only when it ran entirely while k was live (after k's create
// was acknowledged, before the next delete was invoked); offset-based checks use attributed
// ops only, since an offset means nothing without its incarnation.
import type { CommitOp, FetchOp, FinalGroupOp, FinalReadOp, Obs, Op, PollOp, SendOp, TopicOp } from './history';

export const ANOMALY_KINDS = [
  'lost-write',
  'duplicate',
  'inconsistent-offsets',
  'ack-mismatch',
  'nonmonotonic-send',
  'poll-skip',
  'nonmonotonic-poll',
  'group-skip',
  'fetch-skip',
  'read-of-failed-write',
  'phantom-read',
  'incarnation-leak',
  'unreadable',
] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export interface CheckResult {
  counts: Record<AnomalyKind, number>;
  /** Up to `maxExamples` examples per kind. */
  examples: Record<AnomalyKind, unknown[]>;
  /** Context: how much the history exercised (not anomalies). */
  stats: Record<string, number>;
  valid: boolean;
}

interface Span {
  start: number;
  /** Completion time; Infinity for indeterminate ops (they may take effect any time later). */
  end: number;
}

interface Incarnations {
  /** Live windows: [created-ack, delete-invoked). */
  live: Span[];
  /** Where a write could have landed: from the start of the creating transition to the end of the deleting one. */
  extent: Span[];
}

const INF = Number.POSITIVE_INFINITY;

export function check(ops: Op[], opts: { maxExamples?: number } = {}): CheckResult {
  const maxExamples = opts.maxExamples ?? 5;
  const counts = Object.fromEntries(ANOMALY_KINDS.map((k) => [k, 0])) as Record<AnomalyKind, number>;
  const examples = Object.fromEntries(ANOMALY_KINDS.map((k) => [k, [] as unknown[]])) as Record<AnomalyKind, unknown[]>;
  const stats: Record<string, number> = {};
  const bump = (name: string, n = 1): void => void (stats[name] = (stats[name] ?? 0) + n);
  const report = (kind: AnomalyKind, example: unknown): void => {
    counts[kind]++;
    if (examples[kind].length < maxExamples) examples[kind].push(example);
  };

  // --- invoke/completion pairing ---------------------------------------------------------------
  const invokedAt = new Map<number, number>();
  const completions: Op[] = [];
  for (const op of ops) {
    if (op.type === 'invoke') invokedAt.set(op.id, op.time);
    else completions.push(op);
  }
  const span = (op: Op): Span => ({ start: invokedAt.get(op.id) ?? op.time, end: op.type === 'info' ? INF : op.time });
  const proxyDup = new Set<number>();
  for (const op of completions) if (op.f === 'proxy-dup') proxyDup.add(op.op);

  // --- incarnations ------------------------------------------------------------------------------
  const incs = new Map<string, Incarnations>();
  const topicOps = completions.filter((o): o is TopicOp => o.f === 'delete-topic' || o.f === 'create-topic').sort((a, b) => span(a).start - span(b).start);
  const transitions = new Map<string, Span[]>();
  for (const op of topicOps) {
    const list = transitions.get(op.topic) ?? [];
    transitions.set(op.topic, list);
    const last = list[list.length - 1];
    if (op.f === 'delete-topic') {
      // A delete opens a transition unless one is already open (a retried delete).
      if (!last || last.end !== INF) list.push({ start: span(op).start, end: INF });
    } else if (op.type === 'ok' && last && last.end === INF) {
      last.end = op.time;
    }
  }
  for (const [topic, list] of transitions) {
    const live: Span[] = [];
    const extent: Span[] = [];
    for (let k = 0; k <= list.length; k++) {
      const before = list[k - 1];
      const after = list[k];
      live.push({ start: before ? before.end : -INF, end: after ? after.start : INF });
      extent.push({ start: before ? before.start : -INF, end: after ? after.end : INF });
    }
    incs.set(topic, { live, extent });
  }
  const lastInc = (topic: string): number => (incs.get(topic)?.live.length ?? 1) - 1;
  /** The incarnation an op ran entirely within, or null when it straddles a transition. */
  const attribute = (topic: string, s: Span): number | null => {
    const inc = incs.get(topic);
    if (!inc) return 0;
    const k = inc.live.findIndex((w) => s.start >= w.start && s.end <= w.end);
    return k < 0 ? null : k;
  };
  const couldBeIn = (topic: string, s: Span, k: number): boolean => {
    const inc = incs.get(topic);
    if (!inc) return true;
    const w = inc.extent[k]!;
    return s.start <= w.end && s.end >= w.start;
  };
  const candidates = (topic: string, s: Span): number[] => {
    const inc = incs.get(topic);
    if (!inc) return [0];
    return inc.extent.map((_, k) => k).filter((k) => couldBeIn(topic, s, k));
  };

  // --- writes ------------------------------------------------------------------------------------
  interface Write {
    id: string;
    topic: string;
    process: string;
    idempotent: boolean;
    attempts: SendOp[];
    dupForwarded: boolean;
  }
  const writes = new Map<string, Write>();
  const writeOfValue = new Map<string, Write>();
  for (const op of completions) {
    if (op.f !== 'send') continue;
    let w = writes.get(op.write);
    if (!w) {
      w = { id: op.write, topic: op.topic, process: op.process, idempotent: !!op.producer, attempts: [], dupForwarded: false };
      writes.set(op.write, w);
      for (const v of op.values) writeOfValue.set(v.value, w);
    }
    w.attempts.push(op);
    if (proxyDup.has(op.id)) w.dupForwarded = true;
    bump(`send:${op.type}`);
  }
  /** A definite failure: refused (4xx) on every attempt, and no attempt forwarded twice by the proxy. */
  const definitelyFailed = (w: Write): boolean => !w.dupForwarded && w.attempts.every((a) => a.type === 'fail');
  const okAttempts = (w: Write): SendOp[] => w.attempts.filter((a) => a.type === 'ok' && a.acks);

  // --- observations ------------------------------------------------------------------------------
  interface Seen extends Obs {
    inc: number | null;
    /** The incarnations the read could have seen (for coverage, where over-inclusion is the safe side). */
    cands: number[];
    op: number;
    via: string;
  }
  const seen: Seen[] = [];
  const finalReads = new Map<string, FinalReadOp>(); // `${topic}/${partition}` → op (the last one)
  for (const op of completions) {
    if (op.f === 'final-read') finalReads.set(`${op.topic}/${op.partition}`, op);
    if (op.type !== 'ok') continue;
    if (op.f !== 'fetch' && op.f !== 'poll' && op.f !== 'final-read') continue;
    const s = span(op);
    for (const r of op.records ?? []) {
      const inc = op.f === 'final-read' ? lastInc(r.topic) : attribute(r.topic, s);
      const cands = op.f === 'final-read' ? [lastInc(r.topic)] : candidates(r.topic, s);
      seen.push({ ...r, inc, cands, op: op.index, via: op.f });
    }
    bump(`${op.f}:ok`);
    bump(`records-read:${op.f}`, op.records?.length ?? 0);
  }
  for (const op of completions) if ((op.f === 'fetch' || op.f === 'poll') && op.type !== 'ok') bump(`${op.f}:${op.type}`);

  // Reads of values nobody wrote, of values whose write definitely failed, and of values that
  // belong to another incarnation of the topic.
  for (const r of seen) {
    const w = writeOfValue.get(r.value);
    if (!w) {
      report('phantom-read', { read: r });
      continue;
    }
    if (definitelyFailed(w)) {
      report('read-of-failed-write', { read: r, write: w.attempts.map(brief) });
      continue;
    }
    // An attempt may have written unless it was refused — and a refused attempt the proxy
    // forwarded twice may have written too: the answer heard is one copy's (the other's can
    // land first, e.g. before a deletion the second copy then meets).
    const mayHaveWritten = (a: SendOp): boolean => a.type !== 'fail' || proxyDup.has(a.id);
    if (r.inc !== null && incs.has(r.topic) && !w.attempts.some((a) => mayHaveWritten(a) && couldBeIn(a.topic, span(a), r.inc!))) {
      report('incarnation-leak', { read: r, incarnation: r.inc, write: w.attempts.map(brief) });
    }
  }

  // One offset, two values (within an incarnation).
  const atOffset = new Map<string, Map<string, Seen>>();
  for (const r of seen) {
    if (r.inc === null) continue;
    const k = `${r.topic}#${r.inc}/${r.partition}@${r.offset}`;
    const m = atOffset.get(k) ?? new Map<string, Seen>();
    atOffset.set(k, m);
    if (!m.has(r.value)) m.set(r.value, r);
  }
  for (const [k, m] of atOffset) if (m.size > 1) report('inconsistent-offsets', { at: k, values: [...m.values()].map((r) => ({ value: r.value, via: r.via, op: r.op })) });

  // One value at two offsets (within an incarnation). A plain write the proxy forwarded twice
  // was legitimately written twice.
  const positions = new Map<string, Set<string>>();
  for (const r of seen) {
    if (r.inc === null) continue;
    const k = `${r.topic}#${r.inc}\u0000${r.value}`;
    const s = positions.get(k) ?? new Set<string>();
    positions.set(k, s);
    s.add(`${r.partition}@${r.offset}`);
  }
  for (const [k, s] of positions) {
    if (s.size < 2) continue;
    const [topicInc, value] = k.split('\u0000') as [string, string];
    const w = writeOfValue.get(value);
    if (w && w.dupForwarded && !w.idempotent) {
      bump('duplicate-allowed (proxy forwarded twice)');
      continue;
    }
    report('duplicate', { topic: topicInc, value, at: [...s], write: w?.attempts.map(brief) });
  }

  // Acknowledged offsets hold the acknowledged value; all acks of one write agree.
  for (const w of writes.values()) {
    const oks = okAttempts(w);
    for (let i = 1; i < oks.length; i++) {
      if (JSON.stringify(oks[i]!.acks) !== JSON.stringify(oks[0]!.acks)) report('ack-mismatch', { write: w.id, attempts: oks.map(brief) });
    }
    for (const a of oks) {
      const inc = attribute(a.topic, span(a));
      if (inc === null) continue;
      a.acks!.forEach((ack, j) => {
        const m = atOffset.get(`${a.topic}#${inc}/${ack.partition}@${ack.offset}`);
        if (!m) return;
        const value = a.values[j]!.value;
        for (const [v, r] of m) if (v !== value) report('ack-mismatch', { acked: { topic: a.topic, ...ack, value }, read: { value: v, via: r.via, op: r.op }, send: brief(a) });
      });
    }
  }

  // Lost writes: acknowledged in the final incarnation, absent from the final full read.
  const finalValues = new Map<string, Set<string>>(); // topic → values read by the final reads
  for (const [key, op] of finalReads) {
    const topic = key.slice(0, key.lastIndexOf('/'));
    const s = finalValues.get(topic) ?? new Set<string>();
    finalValues.set(topic, s);
    if (op.type !== 'ok') {
      report('unreadable', { topic, partition: op.partition, error: op.error, status: op.status });
      continue;
    }
    for (const r of op.records ?? []) s.add(r.value);
    // The final read is contiguous from the log start to the high watermark.
    const recs = op.records ?? [];
    const expected = (op.high_watermark ?? 0) - (op.log_start_offset ?? 0);
    const gaps = recs.filter((r, i) => r.offset !== (op.log_start_offset ?? 0) + i);
    if (recs.length !== expected || gaps.length > 0) {
      report('unreadable', { topic, partition: op.partition, why: 'final read not contiguous from log start to high watermark', log_start_offset: op.log_start_offset, high_watermark: op.high_watermark, records: recs.length, firstGap: gaps[0] });
    }
  }
  const unreadable = new Set([...finalReads].filter(([, op]) => op.type !== 'ok').map(([k]) => k));
  for (const w of writes.values()) {
    const oks = okAttempts(w);
    if (oks.length === 0) continue;
    bump('acknowledged-writes');
    const fin = lastInc(w.topic);
    if (!oks.some((a) => attribute(a.topic, span(a)) === fin)) {
      bump('acknowledged-writes-to-deleted-incarnations');
      continue;
    }
    const values = finalValues.get(w.topic);
    if (!values) continue; // the topic was never read finally (the run did not reach the final phase)
    oks[0]!.acks!.forEach((ack, j) => {
      const value = oks[0]!.values[j]!.value;
      if (unreadable.has(`${w.topic}/${ack.partition}`)) return; // reported as unreadable
      if (!values.has(value)) report('lost-write', { value, acked: { topic: w.topic, ...ack }, send: oks.map(brief) });
    });
  }

  // Non-monotonic sends: one process's acknowledged writes to one partition get increasing offsets.
  const lastSent = new Map<string, { offset: number; op: number }>(); // `${process}|${topic}#${inc}/${p}`
  for (const op of completions) {
    if (op.f !== 'send' || op.type !== 'ok' || !op.acks) continue;
    const inc = attribute(op.topic, span(op));
    if (inc === null) continue;
    const w = writes.get(op.write)!;
    if (okAttempts(w)[0] !== op) continue; // a retry's ack is the same write (ack-mismatch checks agreement)
    const byPartition = new Map<number, number[]>();
    for (const a of op.acks) byPartition.set(a.partition, [...(byPartition.get(a.partition) ?? []), a.offset]);
    for (const [p, offs] of byPartition) {
      const k = `${op.process}|${op.topic}#${inc}/${p}`;
      const prev = lastSent.get(k);
      const lo = Math.min(...offs);
      if (prev && lo <= prev.offset) report('nonmonotonic-send', { process: op.process, topic: op.topic, partition: p, previous: prev, now: { offsets: offs, op: op.index } });
      lastSent.set(k, { offset: Math.max(...offs, prev?.offset ?? -1), op: op.index });
    }
  }

  // Direct fetches: records from the requested offset, contiguous.
  for (const op of completions) {
    if (op.f !== 'fetch' || op.type !== 'ok') continue;
    const recs = (op.records ?? []).filter((r) => r.partition === op.partition);
    const bad = recs.findIndex((r, i) => r.offset !== op.offset + i);
    if (bad >= 0) report('fetch-skip', { topic: op.topic, partition: op.partition, requested: op.offset, offsets: recs.map((r) => r.offset).slice(0, 20), op: op.index });
  }

  checkPolls(completions, span, attribute, report);

  // Group coverage: every offset below the highest one a group received was received by some
  // member (at-least-once); after the final drain, every offset below the high watermark.
  // A poll straddling a re-creation counts as delivering its records to every incarnation it
  // could have read, but only attributed polls set how far a group got: an old incarnation's
  // high offsets must not make a new incarnation's unread tail look skipped.
  const delivered = new Map<string, Set<number>>(); // `${group}|${topic}#${inc}/${p}`
  const highest = new Map<string, number>();
  for (const op of completions) {
    if (op.f !== 'poll' || op.type !== 'ok') continue;
    for (const r of op.records ?? []) {
      const attributed = attribute(r.topic, span(op));
      for (const inc of candidates(r.topic, span(op))) {
        const k = `${op.group}|${r.topic}#${inc}/${r.partition}`;
        const s = delivered.get(k) ?? new Set<number>();
        delivered.set(k, s);
        s.add(r.offset);
        if (attributed === inc) highest.set(k, Math.max(highest.get(k) ?? -1, r.offset));
      }
    }
  }
  const drained = new Set(completions.filter((o): o is FinalGroupOp => o.f === 'final-group' && o.type === 'ok').map((o) => o.group));
  const groups = new Set(completions.filter((o): o is PollOp => o.f === 'poll').map((o) => o.group));
  const keys = new Set(delivered.keys());
  for (const g of drained) {
    for (const [fk, fr] of finalReads) {
      if (fr.type !== 'ok') continue;
      const topic = fk.slice(0, fk.lastIndexOf('/'));
      keys.add(`${g}|${topic}#${lastInc(topic)}/${fr.partition}`);
    }
  }
  for (const k of keys) {
    const [group, rest] = k.split('|') as [string, string];
    const topic = rest.slice(0, rest.lastIndexOf('#'));
    const inc = Number(rest.slice(rest.lastIndexOf('#') + 1, rest.lastIndexOf('/')));
    const partition = Number(rest.slice(rest.lastIndexOf('/') + 1));
    const s = delivered.get(k) ?? new Set<number>();
    let from = 0;
    let upTo = highest.get(k) ?? -1; // inclusive
    const fr = finalReads.get(`${topic}/${partition}`);
    if (inc === lastInc(topic) && fr?.type === 'ok') {
      from = fr.log_start_offset ?? 0;
      if (drained.has(group)) upTo = Math.max(upTo, (fr.high_watermark ?? 0) - 1);
    }
    const missing: number[] = [];
    let nMissing = 0;
    for (let o = from; o <= upTo; o++) {
      if (!s.has(o)) {
        nMissing++;
        if (missing.length < 10) missing.push(o);
      }
    }
    if (nMissing > 0) report('group-skip', { group, topic, incarnation: inc, partition, missingCount: nMissing, firstMissing: missing, highestDelivered: highest.get(k) ?? null, drained: drained.has(group) });
  }
  bump('groups', groups.size);

  const valid = ANOMALY_KINDS.every((k) => counts[k] === 0);
  return { counts, examples, stats, valid };
}

/**
 * Per-member poll checks. Within one generation, a member's assignment is fixed and only it
 * commits its partitions, so between two of its polls in that generation:
 * - poll-skip: a poll starting past the highest offset the member has seen + 1 skipped records
 *   the member never received (whatever was lost in between had to be redelivered);
 * - nonmonotonic-poll (explicit-commit members only): a poll starting below a position the
 *   member committed successfully before invoking it went back past an acknowledged commit.
 * Records inside one poll must also be contiguous per partition.
 */
function checkPolls(
  completions: Op[],
  span: (op: Op) => Span,
  attribute: (topic: string, s: Span) => number | null,
  report: (kind: AnomalyKind, example: unknown) => void,
): void {
  interface TpState {
    generation: number;
    inc: number;
    lastSeen?: number;
    lastSeenOp?: number;
    committed?: number;
    committedOp?: number;
  }
  const state = new Map<string, TpState>(); // `${group}|${member}|${topic}/${p}`
  const key = (g: string, m: string, t: string, p: number): string => `${g}|${m}|${t}/${p}`;
  for (const op of completions) {
    if (op.f === 'commit') {
      if (op.type !== 'ok') continue;
      const c = op as CommitOp;
      for (const o of c.offsets) {
        const inc = attribute(o.topic, span(op));
        const st = state.get(key(c.group, c.member, o.topic, o.partition));
        if (!st || inc === null || st.inc !== inc || st.generation !== c.generation) continue;
        // Commits complete in order per member (one op at a time), so the latest ok one wins.
        st.committed = o.offset;
        st.committedOp = op.index;
      }
      continue;
    }
    if (op.f !== 'poll' || op.type !== 'ok' || op.generation === undefined) continue;
    const p = op as PollOp;
    const generation = op.generation;
    const byTp = new Map<string, Obs[]>();
    for (const r of p.records ?? []) {
      const k = `${r.topic}/${r.partition}`;
      byTp.set(k, [...(byTp.get(k) ?? []), r]);
    }
    for (const recs of byTp.values()) {
      const first = recs[0]!;
      const gap = recs.findIndex((r, i) => r.offset !== first.offset + i);
      if (gap >= 0) report('poll-skip', { group: p.group, member: p.member, within: 'one poll', topic: first.topic, partition: first.partition, offsets: recs.map((r) => r.offset).slice(0, 20), op: p.index });
    }
    for (const tp of p.assignment ?? []) {
      const k = key(p.group, p.member, tp.topic, tp.partition);
      const inc = attribute(tp.topic, span(op));
      let st = state.get(k);
      if (inc === null) {
        state.delete(k);
        continue;
      }
      if (!st || st.generation !== generation || st.inc !== inc) {
        st = { generation, inc };
        state.set(k, st);
      }
      const recs = byTp.get(`${tp.topic}/${tp.partition}`);
      if (!recs) continue;
      const first = recs[0]!.offset;
      const last = recs[recs.length - 1]!.offset;
      if (st.lastSeen !== undefined && first > st.lastSeen + 1) {
        report('poll-skip', { group: p.group, member: p.member, mode: p.mode, generation: p.generation, topic: tp.topic, partition: tp.partition, lastSeen: st.lastSeen, lastSeenOp: st.lastSeenOp, nextFirst: first, op: p.index });
      }
      if (p.mode === 'explicit' && st.committed !== undefined && first < st.committed) {
        report('nonmonotonic-poll', { group: p.group, member: p.member, generation: p.generation, topic: tp.topic, partition: tp.partition, committed: st.committed, committedOp: st.committedOp, nextFirst: first, op: p.index });
      }
      st.lastSeen = Math.max(st.lastSeen ?? -1, last);
      st.lastSeenOp = p.index;
    }
  }
}

function brief(op: SendOp | FetchOp): Record<string, unknown> {
  const { index, process, type, status, error } = op;
  const acks = op.f === 'send' ? op.acks : undefined;
  return { op: index, process, type, ...(status !== undefined ? { status } : {}), ...(error ? { error: error.slice(0, 120) } : {}), ...(acks ? { acks } : {}) };
}

/** The anomaly table, then examples of each kind found. */
export function formatResult(r: CheckResult): string {
  const lines: string[] = [];
  const w = Math.max(...ANOMALY_KINDS.map((k) => k.length));
  lines.push(`${'anomaly'.padEnd(w)}  count`);
  lines.push(`${'-'.repeat(w)}  -----`);
  for (const k of ANOMALY_KINDS) lines.push(`${k.padEnd(w)}  ${r.counts[k]}`);
  lines.push('');
  lines.push('exercised: ' + Object.entries(r.stats).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(', '));
  for (const k of ANOMALY_KINDS) {
    if (r.counts[k] === 0) continue;
    lines.push('', `${k}: ${r.counts[k]} (examples)`);
    for (const e of r.examples[k]) lines.push('  ' + JSON.stringify(e));
  }
  lines.push('', r.valid ? 'VALID: no anomalies' : 'INVALID: anomalies found');
  return lines.join('\n');
}
