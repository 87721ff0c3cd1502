// The Kafka listener's group coordinator as the listener builds it (no injected clock): session
// expiry must be measured on the process's monotonic clock, as the HTTP coordinator's is
// (lib/groups/liveness.ts), so a step of the wall clock (NTP, a VM resumed from a snapshot)
// expels nobody.
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { KafkaGroups } from '../../../lib/kafka/groups';
import { ErrorCode } from '../../../lib/kafka/protocol';

const proto = [{ name: 'range', metadata: Uint8Array.from([1]) }];

let groups: KafkaGroups;
beforeEach(() => {
  vi.useFakeTimers();
  groups = new KafkaGroups();
});
afterEach(() => {
  groups.close();
  vi.useRealTimers();
});

it('a wall-clock step forward expels no Kafka member that keeps heartbeating', async () => {
  const a = await groups.join({ groupId: 'g', memberId: '', clientId: 'c', clientHost: '127.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 5_000, protocolType: 'consumer', protocols: proto });
  await groups.sync({ groupId: 'g', memberId: a.memberId, generation: a.generation, assignments: [] });
  await vi.advanceTimersByTimeAsync(1_000);
  expect(groups.heartbeat('g', a.memberId, a.generation)).toBe(ErrorCode.NONE);
  // NTP steps the wall clock a minute forward; one second later the member heartbeats again.
  vi.setSystemTime(Date.now() + 60_000);
  await vi.advanceTimersByTimeAsync(1_000);
  expect(groups.heartbeat('g', a.memberId, a.generation)).toBe(ErrorCode.NONE);
  expect(groups.describe('g').state).toBe('Stable');
});
