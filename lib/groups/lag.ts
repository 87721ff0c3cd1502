// Every group's lag per partition, in records and in time: what /metrics exposes as gauges and
// what the scheduled flush pass publishes as the oldest unconsumed record's age (the alarm).
// One read of the groups registry, then each group's offsets (lib/groups/coordinator.ts).
import type { LagRow } from '../obs/instruments';
import type { GroupCoordinator } from './coordinator';

export async function groupLag(groups: GroupCoordinator): Promise<LagRow[]> {
  const rows: LagRow[] = [];
  for (const g of await groups.list()) {
    for (const o of await groups.offsets(g.group)) {
      rows.push({ group: g.group, topic: o.topic, partition: o.partition, lag: o.lag, lagMs: o.lag_ms });
    }
  }
  return rows;
}

/** The age of the oldest record any group has not consumed, in seconds (0 with no lag). */
export function oldestUnconsumedSeconds(rows: LagRow[]): number {
  return rows.reduce((a, r) => Math.max(a, r.lagMs), 0) / 1000;
}
