// The member lifecycle as an explicit transition table (as KafkaJS's transactionStateMachine):
// which requests a member may make in each state, and where lifecycle events take it. The
// reconciliation states are derived from the stored group, so any instance reaches the same
// answer; `left` and `expired` are terminal (the member item is gone, a later join is a new
// member even with the same id).
import { SamsaError } from '../errors';

export type MemberState =
  /** no such member in the group */
  | 'unknown'
  /** holds its whole target assignment and nothing more */
  | 'stable'
  /** partitions were taken from it; they move once it acknowledges the generation */
  | 'revoking'
  /** waits for partitions still held (or being revoked) by others */
  | 'assigning'
  | 'left'
  | 'expired';

export type MemberEvent = 'join' | 'heartbeat' | 'poll' | 'commit' | 'leave' | 'expire';

type Next = MemberState | 'same';
const LIVE: Partial<Record<MemberEvent, Next>> = {
  join: 'same',
  heartbeat: 'same',
  poll: 'same',
  commit: 'same',
  leave: 'left',
  expire: 'expired',
};

export const TRANSITIONS: Readonly<Record<MemberState, Partial<Record<MemberEvent, Next>>>> = {
  // A join with an unknown id creates the member; it then waits for its first partitions.
  unknown: { join: 'assigning' },
  stable: LIVE,
  revoking: LIVE,
  assigning: LIVE,
  left: {},
  expired: {},
};

/** The state after `event`, or the Kafka error a member in `state` gets for trying it. */
export function transition(state: MemberState, event: MemberEvent, ctx: { group: string; member: string }): MemberState {
  const next = TRANSITIONS[state][event];
  if (next === undefined) {
    throw new SamsaError('UNKNOWN_MEMBER_ID', `member "${ctx.member}" is not a member of group "${ctx.group}" (it left, was expelled after its session timeout, or never joined); join again`, {
      group: ctx.group,
      member_id: ctx.member,
    });
  }
  return next === 'same' ? state : next;
}

/**
 * A present member's reconciliation state: revoking while it has unacknowledged revocations,
 * assigning while its target holds partitions it does not own yet, stable otherwise.
 */
export function reconciliationState(owns: ReadonlySet<string>, target: ReadonlySet<string>, revokingFromIt: number): MemberState {
  if (revokingFromIt > 0) return 'revoking';
  for (const k of target) if (!owns.has(k)) return 'assigning';
  return 'stable';
}
