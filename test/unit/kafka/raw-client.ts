// A raw Kafka client for the listener's tests: send frames (whatever their bytes), read the
// size-prefixed responses in order, and see when the server closes the connection.
import net from 'node:net';
import { expect } from 'vitest';
import { AclStore } from '../../../lib/auth/acl-store';
import { anonymousAuthenticator } from '../../../lib/auth/principal';
import { QuotaLimiter, QuotaStore } from '../../../lib/auth/quota';
import type { AuthOptions } from '../../../lib/http/authz';
import { ErrorCode, Reader, Writer } from '../../../lib/kafka/protocol';
import type { MetaStore } from '../../../lib/storage/ports';
import { systemClock } from '../../../lib/util/clock';

export class RawClient {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  readonly socket: net.Socket;
  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }
  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }
  request(apiKey: number, version: number, correlationId: number, body: Writer = new Writer(), flexible = false): void {
    const h = new Writer().int16(apiKey).int16(version).int32(correlationId).string('raw-test');
    if (flexible) h.emptyTags();
    const payload = Buffer.concat([h.finish(), body.finish()]);
    const frame = Buffer.alloc(4);
    frame.writeInt32BE(payload.length);
    this.send(Buffer.concat([frame, payload]));
  }
  /** The next response frame (without its size), or undefined once the server closed. */
  async response(timeoutMs = 5000): Promise<Buffer | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readInt32BE(0)) {
        const n = this.buf.readInt32BE(0);
        const frame = this.buf.subarray(4, 4 + n);
        this.buf = this.buf.subarray(4 + n);
        return frame;
      }
      if (this.closed) return undefined;
      if (Date.now() > deadline) throw new Error('no response');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  async closedWithin(ms = 3000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }
  end(): void {
    this.socket.destroy();
  }
  /** The next response's body (after the correlation id), or undefined once the server closed. */
  async reply(timeoutMs = 5000): Promise<Reader | undefined> {
    const frame = await this.response(timeoutMs);
    if (!frame) return undefined;
    const r = new Reader(frame);
    r.int32();
    return r;
  }
}

/** Auth options for a listener test: ACLs and quotas of `meta`, everyone ANONYMOUS until SASL. */
export function testAuth(meta: MetaStore, mode: 'none' | 'keys', superUsers: string[] = []): AuthOptions {
  return {
    mode,
    authenticate: anonymousAuthenticator,
    superUsers: new Set(superUsers),
    acls: new AclStore(meta, systemClock),
    quotas: new QuotaStore(meta, systemClock),
    limiter: new QuotaLimiter(meta, systemClock),
    meta,
    clock: systemClock,
  };
}

/** A Produce v3 response's base offsets, in order, each partition asserted to have succeeded. */
export function produceBases(r: Reader): number[] {
  const bases: number[] = [];
  r.array((x) => (x.string(), x.array((y) => (y.int32(), expect(y.int16()).toBe(ErrorCode.NONE), bases.push(y.int64()), y.int64()), 22)), 6);
  return bases;
}
