// What the benchmarks share: a free loopback port and an S3/DynamoDB emulator endpoint.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * AWS_ENDPOINT_URL if set, else a private single-threaded moto (localstack/moto-server.py) on a
 * free port; the standard AWS variables are pointed at it with test credentials.
 */
export async function emulator(): Promise<{ endpoint: string; stop(): void }> {
  let proc: ChildProcess | undefined;
  let endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) {
    const port = await freePort();
    proc = spawn('python3', ['localstack/moto-server.py', String(port)], { stdio: 'ignore' });
    endpoint = `http://127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      try {
        up = (await fetch(`${endpoint}/moto-api/`)).ok;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!up) throw new Error('could not start moto (localstack/moto-server.py)');
  }
  process.env.AWS_ENDPOINT_URL = endpoint;
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  process.env.AWS_REGION ??= 'us-east-1';
  return { endpoint, stop: () => void proc?.kill() };
}
