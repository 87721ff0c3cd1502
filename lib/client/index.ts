// The Samsa client: KafkaJS-like Producer, Consumer and Admin over the HTTP API.
//
//   import { Samsa } from 'samsa/client';
//   const samsa = new Samsa({ url: 'http://localhost:8080' });
//   // a deployed stack: new Samsa({ url: functionUrl, auth: { mode: 'sigv4' } }) — docs/http-api.md
//   const producer = samsa.producer({ lingerMs: 5 });
//   await producer.send({ topic: 'orders', messages: [{ key: 'k', value: 'v' }] });
//   const consumer = samsa.consumer({ groupId: 'billing' });
//   await consumer.subscribe({ topic: 'orders', fromBeginning: true });
//   await consumer.run({ eachMessage: async ({ message }) => { ... } });
import { Admin } from './admin';
import { Consumer, type ConsumerConfig } from './consumer';
import { type ClientConfig, HttpClient } from './http';
import { Producer, type ProducerConfig } from './producer';

export class Samsa {
  readonly http: HttpClient;
  constructor(config: ClientConfig) {
    this.http = new HttpClient(config);
  }
  producer(config: ProducerConfig = {}): Producer {
    return new Producer(this.http, config);
  }
  consumer(config: ConsumerConfig): Consumer {
    return new Consumer(this.http, config);
  }
  admin(): Admin {
    return new Admin(this.http);
  }
}

export { Admin } from './admin';
export type { GroupDescription, GroupMember, GroupOffset, GroupSummary, NewTopic, PartitionState, ResetTarget, TopicConfig, TopicDescription, TopicSummary } from './admin';
export { Consumer } from './consumer';
export type { Batch, ConsumerConfig, ConsumerEvent, EachBatchPayload, EachMessagePayload, RunConfig, TopicPartition, TopicPartitionOffset } from './consumer';
export { SamsaClientError, SamsaConnectionError } from './errors';
export { fetchPartition, lookupOffset } from './fetch';
export type { FetchOptions, PartitionFetch } from './fetch';
export { HttpClient, RECORD_BATCH_TYPE } from './http';
export type { ClientConfig, SignableRequest, Signer } from './http';
export type { Bytes, ConsumedMessage, Message, MessageHeaders } from './messages';
export { DEFAULT_MAX_REQUEST_SIZE, Producer, compressionOf } from './producer';
export type { CompressionName, ProducerConfig, ProducerRecord, RecordMetadata } from './producer';
export { backoff, withRetry } from './retry';
export type { RetryOptions } from './retry';
export { AUTH_MODES, bearerAuth, regionFromUrl, signerFor } from './auth';
export type { AuthConfig, AuthMode } from './auth';
export { sigv4Signer } from './sigv4';
export type { SigV4Options } from './sigv4';
export { Compression, defaultPartition } from '../records';
export type { AclBinding, Quota } from './admin';
export { DEFAULT_BULK_THRESHOLD_RECORDS, readPartition } from './reader';
export type { ReadChunk, ReadOptions } from './reader';
