// Versions before c0aaf26 stored topic config keys named like Object.prototype members
// ("constructor": 5, "toString": "x") as config. They are not topic configs: a topic that holds
// them must not show them (GET /v1/topics/{t}, the CLI, Kafka's DescribeConfigs all read the
// topic's config) and must not keep them through a later change of its config.
import { afterEach, beforeAll, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { topicKey } from '../../../lib/log/keys';
import { DEFAULT_TOPIC_CONFIG } from '../../../lib/log/topic-config';
import { codecsReady } from '../../../lib/records';
import { localStores } from '../../helpers/stores';

beforeAll(codecsReady);
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of opened.splice(0).reverse()) await c.close();
});

it('config keys that are not topic configs, stored by an older version, are not read back and are dropped by the next change', async () => {
  const stores = await localStores('samsa-cfgkeys-');
  opened.push({ close: stores.cleanup });
  const first = new LogEngine(stores.meta, stores.objects);
  opened.push(first);
  await first.createTopic('t', 1, { 'retention.ms': 3_600_000 });
  const item = await stores.meta.get(topicKey('t'));
  expect(item).toBeDefined();
  await stores.meta.write({ type: 'put', item: { ...item!, config: { ...(item!['config'] as object), constructor: 5, toString: 'x' } } });

  // A fresh engine (no cached topic) reads the stored item.
  const engine = new LogEngine(stores.meta, stores.objects);
  opened.push(engine);
  const { topic } = await engine.describeTopic('t');
  expect(topic.config).toEqual({ ...DEFAULT_TOPIC_CONFIG, 'retention.ms': 3_600_000 });
  expect(Object.keys(topic.config).sort()).toEqual(Object.keys(DEFAULT_TOPIC_CONFIG).sort());

  await engine.topics.alter('t', { config: { 'retention.bytes': 1_048_576 } });
  const stored = (await stores.meta.get(topicKey('t')))!['config'] as Record<string, unknown>;
  expect(Object.keys(stored).sort()).toEqual(Object.keys(DEFAULT_TOPIC_CONFIG).sort());
  expect(stored).toMatchObject({ 'retention.ms': 3_600_000, 'retention.bytes': 1_048_576 });
});
