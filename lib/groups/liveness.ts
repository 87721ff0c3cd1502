// Session expiry without comparing clocks across hosts (the amazon-dynamodb-lock-client rule):
// every heartbeat stores a fresh random version on the member's item; an instance notes, by its
// own monotonic clock, when it first saw each member's current version, and may expel a member
// only after seeing the same version for at least the session timeout. A version is noted only
// after the read or write that revealed it completed, i.e. after it was written, so a member is
// never expelled early; it may outlive its timeout by up to one interval between touches of
// the group by the instance that expels it. Process-local, and only ever delays expiry.
import { type Clock, systemClock } from '../util/clock';

export const monotonicClock: Clock = { ...systemClock, now: () => performance.now() };

interface Seen {
  version: string;
  since: number;
  /** This instance wrote this version (at `since`), rather than read it. */
  ours?: boolean;
}

export class LivenessTracker {
  private readonly groups = new Map<string, Map<string, Seen>>();

  constructor(private readonly mono: Clock = monotonicClock) {}

  /**
   * Record the versions just read for every member of `group` and return the ids whose
   * version has not changed for at least their session timeout. Forgets members not listed.
   */
  observe(group: string, members: Iterable<{ id: string; version: string; sessionTimeoutMs: number }>): string[] {
    const now = this.mono.now();
    const prev = this.groups.get(group) ?? new Map<string, Seen>();
    const next = new Map<string, Seen>();
    const expired: string[] = [];
    for (const m of members) {
      const seen = prev.get(m.id);
      if (seen && seen.version === m.version) {
        next.set(m.id, seen);
        if (now - seen.since >= m.sessionTimeoutMs) expired.push(m.id);
      } else {
        next.set(m.id, { version: m.version, since: now });
      }
    }
    if (next.size === 0) this.groups.delete(group);
    else this.groups.set(group, next);
    return expired;
  }

  /** This instance just wrote `version` for the member: its session restarts now. */
  wrote(group: string, member: string, version: string): void {
    let g = this.groups.get(group);
    if (!g) this.groups.set(group, (g = new Map()));
    g.set(member, { version, since: this.mono.now(), ours: true });
  }

  /**
   * Whether this instance wrote the member's `version` itself less than `ms` ago (by its
   * monotonic clock): then no instance has seen that version for longer than that.
   */
  wroteWithin(group: string, member: string, version: string, ms: number): boolean {
    const seen = this.groups.get(group)?.get(member);
    return seen !== undefined && seen.ours === true && seen.version === version && this.mono.now() - seen.since < ms;
  }

  forget(group: string): void {
    this.groups.delete(group);
  }
}
