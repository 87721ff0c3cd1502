// The cooperative step, pure: from the stored group (owners, pending revocations, members'
// acknowledged generations) to the next generation's owners. A partition whose target owner
// differs from its current owner is first revoked (it has no owner, only a "revoking" member
// that may still commit it); it is handed to its new owner only once the old owner has
// acknowledged a generation without it, or is gone. So one generation never names two owners
// for a partition, and the old owner gets to commit before the new one starts reading.
import { ASSIGNORS, type AssignorName, type Owners } from './assignors';

export interface MemberSpec {
  topics: string[];
  sessionTimeoutMs: number;
  autoOffsetReset: 'earliest' | 'latest';
}

export interface Revocation {
  /** The member the partition was taken from. */
  from: string;
  /** The generation whose assignment first left the partition out of `from`'s. */
  gen: number;
}

export interface GroupState {
  generation: number;
  assignor: AssignorName;
  members: Map<string, MemberSpec>;
  owners: Owners;
  revoking: Map<string, Revocation>;
  /** Partition counts of the subscribed topics (0 or absent: the topic is gone). */
  partitions: Record<string, number>;
  /**
   * The incarnation of each subscribed topic the group knows, and the generation from which it
   * knows it. A topic deleted and re-created under its name is a new log: offsets acknowledged
   * or committed for the old one must not land on the new one (poll.ts, coordinator.ts).
   */
  incarnations?: Record<string, { id: string; since: number }>;
  /**
   * This group's own incarnation: a random id given when its group item is created. A group
   * deleted and created again under its name starts over at generation 0, so a write fenced on
   * the generation alone could land in the new group (store.ts, `sameGroup`). Absent on a group
   * item older than the field (its next step adds one) and on a group not stored yet.
   */
  gid?: string;
}

/** What one partition's ownership item must become. */
export interface PartitionChange {
  key: string;
  owner?: string;
  revoking?: string;
  /** Set when `owner` newly owns the partition: the generation its ownership starts. */
  since?: number;
}

export interface Step {
  owners: Owners;
  revoking: Map<string, Revocation>;
  changes: PartitionChange[];
  target: Owners;
  /** True when changes were left out for lack of room in one transaction. */
  truncated: boolean;
}

export function targetOf(state: Pick<GroupState, 'assignor' | 'members' | 'partitions' | 'owners'>): Owners {
  const members = [...state.members].map(([id, spec]) => ({ id, topics: spec.topics }));
  return ASSIGNORS[state.assignor]({ members, partitions: state.partitions, previous: state.owners });
}

/**
 * One step towards the target. `acks` holds each member's acknowledged generation; `nextGen`
 * is the generation the step will be written as; at most `maxChanges` partitions change
 * (removals before assignments; the rest follow in later steps).
 */
export function reconcile(state: GroupState, acks: ReadonlyMap<string, number>, nextGen: number, maxChanges = Infinity, target: Owners = targetOf(state)): Step {
  const keys = new Set<string>([...state.owners.keys(), ...state.revoking.keys(), ...target.keys()]);
  type Slot = { owner?: string; rev?: Revocation };
  const after = new Map<string, Slot>();
  for (const key of keys) {
    let owner = state.owners.get(key);
    let rev = state.revoking.get(key);
    // A member that left or expired needs to acknowledge nothing.
    if (owner !== undefined && !state.members.has(owner)) owner = undefined;
    if (rev !== undefined && (!state.members.has(rev.from) || (acks.get(rev.from) ?? -1) >= rev.gen)) rev = undefined;
    const t = target.get(key);
    if (owner !== undefined && owner !== t) {
      // Nobody else will take a partition that left every subscription: free it at once.
      if (t === undefined) owner = undefined;
      else {
        rev = { from: owner, gen: nextGen };
        owner = undefined;
      }
    }
    if (owner === undefined && t !== undefined) {
      if (rev === undefined) owner = t;
      else if (rev.from === t) {
        // Given back to the member it was being taken from: it never stopped owning it.
        owner = t;
        rev = undefined;
      }
    }
    after.set(key, { ...(owner !== undefined ? { owner } : {}), ...(rev !== undefined ? { rev } : {}) });
  }

  const diffs: Array<{ key: string; slot: Slot; assigns: boolean }> = [];
  for (const [key, slot] of after) {
    const owner = state.owners.get(key);
    const rev = state.revoking.get(key);
    if (slot.owner === owner && slot.rev?.from === rev?.from && slot.rev?.gen === rev?.gen) continue;
    diffs.push({ key, slot, assigns: slot.owner !== undefined });
  }
  diffs.sort((a, b) => Number(a.assigns) - Number(b.assigns) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const taken = diffs.slice(0, Math.max(0, maxChanges));

  const owners: Owners = new Map(state.owners);
  const revoking = new Map(state.revoking);
  const changes: PartitionChange[] = [];
  for (const { key, slot } of taken) {
    const before = state.owners.get(key);
    const wasRevokingFrom = state.revoking.get(key)?.from;
    if (slot.owner !== undefined) owners.set(key, slot.owner);
    else owners.delete(key);
    if (slot.rev !== undefined) revoking.set(key, slot.rev);
    else revoking.delete(key);
    const change: PartitionChange = { key };
    if (slot.owner !== undefined) {
      change.owner = slot.owner;
      if (slot.owner !== before && slot.owner !== wasRevokingFrom) change.since = nextGen;
    }
    if (slot.rev !== undefined) change.revoking = slot.rev.from;
    changes.push(change);
  }
  return { owners, revoking, changes, target, truncated: taken.length < diffs.length };
}
