// Fault-injecting wrappers around the storage ports, for crash-between-steps tests (as SlateDB
// wraps its object store). A plan picks calls — the Nth call of a method, or any call a
// predicate matches — and makes them fail before running, fail after running (the write
// happened but the ack was lost), run twice (an SDK retry of a write whose response was lost),
// or freeze until released (a paused process / zombie writer).

import type { MetaStore, ObjectStore } from './ports.js';

type MethodOf<T> = { [K in keyof T]-?: NonNullable<T[K]> extends (...a: never[]) => unknown ? K : never }[keyof T];
type Fn<T, K extends keyof T> = Extract<NonNullable<T[K]>, (...a: never[]) => unknown>;

/** One call as a discriminated union, so predicates get typed arguments. */
export type CallOf<T> = { [K in MethodOf<T>]: { method: K; args: Parameters<Fn<T, K>> } }[MethodOf<T>];

export type FaultAction =
  /** Reject without calling the store. */
  | { kind: 'fail'; error: unknown }
  /** Call the store, then reject anyway: the effect is durable but the caller never learns it. */
  | { kind: 'failAfter'; error: unknown }
  /**
   * Call the store, lose the response, and call it again — what an SDK does when a request
   * applied but its response never arrived. The caller sees only the second call's outcome
   * (typically a failed condition, since the first call already moved the item on).
   */
  | { kind: 'repeat' }
  /** Park the call until `gate.release()`, then run it (a frozen process waking up); never if no gate. */
  | { kind: 'hang'; gate?: Gate };

export interface FaultRule<T> {
  /** Only calls of this method count. */
  method?: MethodOf<T>;
  /** Only calls this predicate accepts count. */
  when?: (call: CallOf<T>) => boolean;
  /** Fire from the Nth counted call on (1-based, default 1)... */
  nth?: number;
  /** ...for this many calls (default 1; Infinity for every later call). */
  times?: number;
  action: FaultAction;
}

export interface FaultLogEntry<T> {
  call: CallOf<T>;
  /** Index of the rule that fired, if any. */
  rule?: number;
}

export interface FaultControl<T> {
  /** Every call seen, in order, with the rule that fired on it. */
  readonly log: FaultLogEntry<T>[];
  /** How many times each rule has fired, by index. */
  fired(rule: number): number;
  add(rule: FaultRule<T>): void;
  /** Drop all rules; later calls pass straight through. */
  clear(): void;
}

/** A latch for `hang` faults: `reached` resolves when a call parks, `release()` lets it run. */
export class Gate {
  private open = false;
  private waiters: (() => void)[] = [];
  private arrived!: () => void;
  /** Resolves once the first call has parked at this gate. */
  readonly reached: Promise<void> = new Promise((r) => (this.arrived = r));

  release(): void {
    this.open = true;
    for (const w of this.waiters.splice(0)) w();
  }

  /** @internal */
  wait(): Promise<void> {
    this.arrived();
    if (this.open) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }
}

class Injector<T> implements FaultControl<T> {
  readonly log: FaultLogEntry<T>[] = [];
  private rules: { rule: FaultRule<T>; seen: number; fired: number }[] = [];

  constructor(rules: FaultRule<T>[]) {
    rules.forEach((r) => this.add(r));
  }

  add(rule: FaultRule<T>): void {
    this.rules.push({ rule, seen: 0, fired: 0 });
  }

  clear(): void {
    this.rules = [];
  }

  fired(i: number): number {
    return this.rules[i]?.fired ?? 0;
  }

  /** Finds the first rule firing on this call; every matching rule counts the call. */
  private pick(call: CallOf<T>): number | undefined {
    let chosen: number | undefined;
    this.rules.forEach((r, i) => {
      if (r.rule.method !== undefined && r.rule.method !== call.method) return;
      if (r.rule.when && !r.rule.when(call)) return;
      r.seen++;
      const from = r.rule.nth ?? 1;
      const times = r.rule.times ?? 1;
      if (chosen === undefined && r.seen >= from && r.fired < times) {
        r.fired++;
        chosen = i;
      }
    });
    return chosen;
  }

  async run<R>(call: CallOf<T>, invoke: () => Promise<R>): Promise<R> {
    const i = this.pick(call);
    this.log.push({ call, ...(i !== undefined && { rule: i }) });
    const action = i === undefined ? undefined : this.rules[i]?.rule.action;
    if (!action) return invoke();
    switch (action.kind) {
      case 'fail':
        throw action.error;
      case 'failAfter':
        await invoke();
        throw action.error;
      case 'repeat':
        await invoke();
        return invoke();
      case 'hang':
        await (action.gate ? action.gate.wait() : new Promise<never>(() => undefined));
        return invoke();
    }
  }
}

export function faultyObjectStore(
  inner: ObjectStore,
  rules: FaultRule<ObjectStore>[] = [],
): ObjectStore & { faults: FaultControl<ObjectStore>; close(): Promise<void> } {
  const f = new Injector<ObjectStore>(rules);
  return {
    faults: f,
    put: (...args) => f.run({ method: 'put', args }, () => inner.put(...args)),
    get: (...args) => f.run({ method: 'get', args }, () => inner.get(...args)),
    head: (...args) => f.run({ method: 'head', args }, () => inner.head(...args)),
    delete: (...args) => f.run({ method: 'delete', args }, () => inner.delete(...args)),
    list: (...args) => f.run({ method: 'list', args }, () => inner.list(...args)),
    append: (...args) => f.run({ method: 'append', args }, () => inner.append(...args)),
    compose: (...args) => f.run({ method: 'compose', args }, () => inner.compose(...args)),
    // Only where the wrapped store has one (S3): its absence is how the bulk route knows to
    // hand out its own URLs instead.
    ...(inner.presignGet ? { presignGet: (...args: Parameters<NonNullable<ObjectStore['presignGet']>>) => f.run({ method: 'presignGet', args }, () => inner.presignGet!(...args)) } : {}),
    get appendCopiesPrefix() {
      return inner.appendCopiesPrefix;
    },
    close: () => f.run({ method: 'close', args: [] }, async () => inner.close?.()),
  };
}

export function faultyMetaStore(
  inner: MetaStore,
  rules: FaultRule<MetaStore>[] = [],
): MetaStore & { faults: FaultControl<MetaStore>; close(): Promise<void> } {
  const f = new Injector<MetaStore>(rules);
  return {
    faults: f,
    get limits() {
      return inner.limits;
    },
    get traits() {
      return inner.traits;
    },
    get: (...args) => f.run({ method: 'get', args }, () => inner.get(...args)),
    query: (...args) => f.run({ method: 'query', args }, () => inner.query(...args)),
    write: (...args) => f.run({ method: 'write', args }, () => inner.write(...args)),
    transact: (...args) => f.run({ method: 'transact', args }, () => inner.transact(...args)),
    close: () => f.run({ method: 'close', args: [] }, async () => inner.close?.()),
  };
}
