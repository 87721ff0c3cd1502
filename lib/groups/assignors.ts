// Partition assignment strategies, pure and deterministic: the same members, subscriptions and
// previous owners always give the same result, whichever instance computes it. The coordinator
// only ever moves partitions towards the result one cooperative step at a time.
//   range       Kafka's RangeAssignor: per topic, contiguous ranges over the sorted members.
//   roundrobin  Kafka's RoundRobinAssignor: all partitions dealt in turn over the sorted members.
//   sticky      (default) keeps every valid previous owner and moves only what balance needs.

export interface MemberSubscription {
  id: string;
  topics: readonly string[];
}

export interface AssignInput {
  members: readonly MemberSubscription[];
  /** Partition count of every topic that exists (unknown topics are simply not assigned). */
  partitions: Readonly<Record<string, number>>;
  /** Previous owner per partition key (`tpKey`), for stickiness. */
  previous?: ReadonlyMap<string, string>;
}

/** Partition key → member id. Every partition of a subscribed topic has exactly one owner. */
export type Owners = Map<string, string>;
export type Assignor = (input: AssignInput) => Owners;

export const tpKey = (topic: string, partition: number): string => `${topic}#${partition}`;
export function parseTp(key: string): { topic: string; partition: number } {
  const i = key.lastIndexOf('#');
  return { topic: key.slice(0, i), partition: Number(key.slice(i + 1)) };
}

const byId = (a: MemberSubscription, b: MemberSubscription): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Topics somebody subscribes to and that exist, sorted. */
function subscribedTopics(input: AssignInput): string[] {
  const set = new Set<string>();
  for (const m of input.members) for (const t of m.topics) if ((input.partitions[t] ?? 0) > 0) set.add(t);
  return [...set].sort(cmp);
}

export const range: Assignor = (input) => {
  const owners: Owners = new Map();
  const members = [...input.members].sort(byId);
  for (const topic of subscribedTopics(input)) {
    const subs = members.filter((m) => m.topics.includes(topic));
    const n = input.partitions[topic]!;
    const per = Math.floor(n / subs.length);
    const extra = n % subs.length;
    subs.forEach((m, i) => {
      const start = i * per + Math.min(i, extra);
      const len = per + (i < extra ? 1 : 0);
      for (let p = start; p < start + len; p++) owners.set(tpKey(topic, p), m.id);
    });
  }
  return owners;
};

export const roundRobin: Assignor = (input) => {
  const owners: Owners = new Map();
  const members = [...input.members].sort(byId);
  if (members.length === 0) return owners;
  let next = 0;
  for (const topic of subscribedTopics(input)) {
    for (let p = 0; p < input.partitions[topic]!; p++) {
      // Kafka's circular iterator: skip members not subscribed to this topic.
      while (!members[next % members.length]!.topics.includes(topic)) next++;
      owners.set(tpKey(topic, p), members[next % members.length]!.id);
      next++;
    }
  }
  return owners;
};

/**
 * Sticky: start from the previous owners that are still valid (member present and subscribed,
 * partition still exists), give unowned partitions to the least-loaded eligible member, then
 * move partitions one at a time from the most- to the least-loaded eligible member until no
 * move narrows the spread. With identical subscriptions the counts end within one of each other
 * and only the excess of overloaded members moves.
 */
export const sticky: Assignor = (input) => {
  const members = [...input.members].sort(byId);
  const owners: Owners = new Map();
  if (members.length === 0) return owners;
  const subs = new Map(members.map((m) => [m.id, new Set(m.topics)]));
  const owned = new Map<string, string[]>(members.map((m) => [m.id, []]));
  const all: string[] = [];
  for (const topic of subscribedTopics(input)) for (let p = 0; p < input.partitions[topic]!; p++) all.push(tpKey(topic, p));

  const eligible = (key: string): MemberSubscription[] => {
    const topic = parseTp(key).topic;
    return members.filter((m) => subs.get(m.id)!.has(topic));
  };
  const give = (key: string, member: string): void => {
    owners.set(key, member);
    owned.get(member)!.push(key);
  };

  const unowned: string[] = [];
  for (const key of all) {
    const prev = input.previous?.get(key);
    if (prev !== undefined && subs.get(prev)?.has(parseTp(key).topic)) give(key, prev);
    else unowned.push(key);
  }
  for (const key of unowned) {
    let best: string | undefined;
    for (const m of eligible(key)) if (best === undefined || owned.get(m.id)!.length < owned.get(best)!.length) best = m.id;
    give(key, best!);
  }

  // Balance. Each move lowers the sum of squared counts, so the loop ends.
  for (;;) {
    let moved = false;
    const order = [...members].sort((a, b) => owned.get(b.id)!.length - owned.get(a.id)!.length || byId(a, b));
    outer: for (const from of order) {
      const list = owned.get(from.id)!;
      // Move the highest partitions first, so which ones move is deterministic.
      const candidates = [...list].sort(cmpTp).reverse();
      for (const key of candidates) {
        let to: string | undefined;
        for (const m of eligible(key)) {
          if (owned.get(m.id)!.length < list.length - 1 && (to === undefined || owned.get(m.id)!.length < owned.get(to)!.length)) to = m.id;
        }
        if (to !== undefined) {
          list.splice(list.indexOf(key), 1);
          give(key, to);
          moved = true;
          break outer;
        }
      }
    }
    if (!moved) return owners;
  }
};

function cmpTp(a: string, b: string): number {
  const x = parseTp(a);
  const y = parseTp(b);
  return cmp(x.topic, y.topic) || x.partition - y.partition;
}

export const ASSIGNORS = { sticky, range, roundrobin: roundRobin } as const;
export type AssignorName = keyof typeof ASSIGNORS;
export const DEFAULT_ASSIGNOR: AssignorName = 'sticky';

/** Owners grouped by member, each member's partitions sorted (topic, partition). */
export function byMember(owners: ReadonlyMap<string, string>): Map<string, Array<{ topic: string; partition: number }>> {
  const out = new Map<string, Array<{ topic: string; partition: number }>>();
  for (const key of [...owners.keys()].sort(cmpTp)) {
    const m = owners.get(key)!;
    let list = out.get(m);
    if (!list) out.set(m, (list = []));
    list.push(parseTp(key));
  }
  return out;
}

export { cmpTp };
