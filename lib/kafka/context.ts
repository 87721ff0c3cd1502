// What every Kafka API handler is given: the engine and stores it serves from, this node's
// identity, and the connection's session (principal, SASL state).
import { publicError } from '../errors';
import type { GroupCoordinator } from '../groups/coordinator';
import type { LogEngine } from '../log/engine';
import type { KafkaCluster } from './cluster';
import type { KafkaGroups } from './groups';
import { ErrorCode, kafkaErrorCode, type Reader, type RequestHeader, type Writer } from './protocol';

export interface Node {
  id: number;
  host: string;
  port: number;
}

/** What a handler may see of its connection. */
export interface Session {
  /** Authenticated principal (User:name), or undefined before SASL on a listener that needs it. */
  principal: string | undefined;
  clientHost: string;
  /** Set by SaslHandshake v0: the next frame is a bare SASL token, not a request. */
  saslRawNext?: boolean;
  /** Set by SaslHandshake: the next request is a SaslAuthenticate. */
  saslMechanism?: string;
  /** Whether the connection may run APIs other than ApiVersions/SASL yet. */
  authenticated: boolean;
  /**
   * Per topic/partition, the last Produce of this connection not yet in the partition's commit
   * order: the next one waits for it, so pipelined writes land in request order (as Kafka,
   * which runs a connection's requests one at a time, appends them).
   */
  produceOrder?: Map<string, Promise<void>>;
  /**
   * Per group, the last OffsetCommit of this connection not yet written: the next one writes
   * after it, so pipelined commits (asynchronous committers send them back to back) land in
   * request order and an earlier offset never overwrites a later one; an OffsetFetch waits for
   * them, so it reads the connection's own commits.
   */
  commitOrder?: Map<string, Promise<void>>;
  /** Set once the connection is closed: a request still waiting then acts only if it must. */
  closed?: boolean;
}

/**
 * A place in one of a session's per-key orders (produceOrder, commitOrder), taken when called:
 * `prev` settles once the previous holder of `key` called its `done`; call `done` when this one
 * is through (always: a `finally`). The key leaves the map once its last holder is done.
 */
export function takeTurn(order: Map<string, Promise<void>>, key: string): { prev: Promise<void>; done: () => void } {
  const prev = order.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  order.set(key, mine);
  void mine.then(() => {
    if (order.get(key) === mine) order.delete(key);
  });
  return { prev, done };
}

/** Checks an operation on a resource for the session; a refusal is the error code to answer. */
export type Authorizer = (s: Session, op: 'read' | 'write' | 'create' | 'delete' | 'alter' | 'describe', type: 'topic' | 'group' | 'cluster', name: string) => Promise<boolean>;

export interface Context {
  engine: LogEngine;
  coordinator: GroupCoordinator;
  groups: KafkaGroups;
  /** Other instances on the same stores, and which one coordinates a group. */
  cluster: KafkaCluster;
  node: Node;
  clusterId: string;
  authorize: Authorizer;
  /** SASL/PLAIN: principal for a user name and password, or undefined. */
  authenticatePlain?: (user: string, password: string) => string | undefined;
  /** Bound on Fetch's max_wait_ms (tests shorten it; shutdown wakes it). */
  signal?: AbortSignal;
}

export interface Api {
  name: string;
  min: number;
  max: number;
  /** First flexible version (request header v2 / tagged fields), if any in range. */
  flexibleFrom?: number;
  /** Allowed before SASL authentication completes. */
  preAuth?: boolean;
  /** The response body, or null for no response (Produce with acks=0). */
  handle(ctx: Context, s: Session, h: RequestHeader, r: Reader): Promise<Writer | null>;
}

/**
 * Thrown by a handler to end the connection after this request, as Kafka does: after `body` (its
 * answer, sent first and in order) or with no answer at all (a failed acks=0 Produce).
 */
export class CloseConnection extends Error {
  override name = 'CloseConnection';
  constructor(
    reason: string,
    readonly body: Writer | null = null,
  ) {
    super(reason);
  }
}

export const errOf = (err: unknown): number => {
  const known = publicError(err);
  return known ? kafkaErrorCode(known.code) : ErrorCode.UNKNOWN_SERVER_ERROR;
};
