// Topic config keys that are names of Object.prototype members ("constructor", "toString",
// "__proto__", ...) are unknown keys like any other: refused with 400 INVALID_CONFIG (Kafka:
// INVALID_CONFIG on the listener), and nothing is stored. Over real HTTP, the Kafka protocol
// (KafkaJS) and the `samsa` command, against the real embedded server.
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSamsa } from '../helpers/cli';
import { freePort, type ServerHandle, startServer } from '../helpers/server';

let server: ServerHandle;
let kafka: Kafka;
let seq = 0;
const uniq = (p: string): string => `${p}-${Date.now().toString(36)}-${(seq++).toString(36)}`;

/** Every key a plain object answers to without holding it. */
const PROTOTYPE_KEYS = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'toLocaleString', '__defineGetter__', '__proto__'];

/** A JSON request whose body is sent as written: `{"__proto__": ...}` cannot be built with JSON.stringify. */
async function send(method: string, path: string, body?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(server.url + path, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body }) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** `{"config": {"<key>": <value>}}`, with the key written literally. */
const configJson = (key: string, value: unknown): string => `{${JSON.stringify(key)}:${JSON.stringify(value)}}`;

beforeAll(async () => {
  const kafkaPort = await freePort();
  server = await startServer({ env: { SAMSA_KAFKA_PORT: String(kafkaPort) } });
  kafka = new Kafka({ clientId: 'config-keys', brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
});

afterAll(async () => {
  await server?.stop();
});

describe('config keys named like Object.prototype members', () => {
  it('POST /v1/topics refuses each with 400 INVALID_CONFIG and creates no topic', async () => {
    for (const key of PROTOTYPE_KEYS) {
      for (const value of [5, '5']) {
        const name = uniq('proto-create');
        const r = await send('POST', '/v1/topics', `{"name":${JSON.stringify(name)},"partitions":1,"config":${configJson(key, value)}}`);
        expect(r.status, `config key ${key}=${JSON.stringify(value)}: ${JSON.stringify(r.body)}`).toBe(400);
        expect(r.body.error_code).toBe('INVALID_CONFIG');
        expect(r.body.message).toContain(`"${key}"`);
        expect((await send('GET', `/v1/topics/${name}`)).status, `topic created despite config key ${key}`).toBe(404);
      }
    }
  });

  it('PATCH /v1/topics/{topic} refuses each with 400 INVALID_CONFIG and leaves the config as it was', async () => {
    const name = uniq('proto-alter');
    expect((await send('POST', '/v1/topics', JSON.stringify({ name, partitions: 1, config: { 'retention.ms': 3600000 } }))).status).toBe(201);
    const before = (await send('GET', `/v1/topics/${name}`)).body.config;
    for (const key of PROTOTYPE_KEYS) {
      // With a valid key beside it: the whole change is refused, the valid part included.
      const r = await send('PATCH', `/v1/topics/${name}`, `{"config":{"retention.ms":1000,${JSON.stringify(key)}:7}}`);
      expect(r.status, `config key ${key}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.error_code).toBe('INVALID_CONFIG');
      expect(r.body.message).toContain(`"${key}"`);
      const after = await send('GET', `/v1/topics/${name}`);
      expect(after.status).toBe(200);
      expect(after.body.config, `config changed by a refused key ${key}`).toEqual(before);
    }
    // The topic still takes a valid change afterwards.
    const ok = await send('PATCH', `/v1/topics/${name}`, JSON.stringify({ config: { 'retention.ms': 1000 } }));
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.body.config).sort()).toEqual(Object.keys(before).sort());
  });

  it('the Kafka listener refuses them in CreateTopics (validate_only and real) and creates nothing', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      for (const key of PROTOTYPE_KEYS) {
        for (const validateOnly of [true, false]) {
          const topic = uniq('proto-kafka');
          const err = await admin
            .createTopics({ validateOnly, waitForLeaders: false, topics: [{ topic, numPartitions: 1, configEntries: [{ name: key, value: '5' }] }] })
            .then(() => undefined, (e: unknown) => e as { errors?: Array<{ type?: string }> });
          expect(err, `CreateTopics accepted config key ${key} (validate_only ${validateOnly})`).toBeDefined();
          expect(err!.errors?.[0]?.type).toBe('INVALID_CONFIG');
          expect((await send('GET', `/v1/topics/${topic}`)).status).toBe(404);
        }
      }
    } finally {
      await admin.disconnect();
    }
  });

  it('samsa topics alter refuses them in --config and --delete-config', async () => {
    const name = uniq('proto-cli');
    expect((await send('POST', '/v1/topics', JSON.stringify({ name, partitions: 1 }))).status).toBe(201);
    for (const key of ['constructor', '__proto__']) {
      const set = await runSamsa(['topics', 'alter', name, '--config', `${key}=5`], { url: server.url });
      expect(set.code, `--config ${key}=5: ${set.stdout}${set.stderr}`).not.toBe(0);
      expect(set.stderr).toContain(`"${key}"`);
      const del = await runSamsa(['topics', 'alter', name, '--delete-config', key], { url: server.url });
      expect(del.code, `--delete-config ${key}: ${del.stdout}${del.stderr}`).toBe(2);
      expect(del.stderr).toMatch(new RegExp(`--delete-config: unknown config key "${key}"`));
    }
  });
});
