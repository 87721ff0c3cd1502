// kcat (Debian's, on librdkafka 2.x), unmodified, for the Kafka listener's tests: where it is,
// whether a suite may run without it (under CI=true a missing kcat fails the run: .ci/run
// installs it; elsewhere the suite is skipped with a notice), and one run of it as a child
// process (async: the server runs in another process, but keep the event loop free).
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export const KCAT = process.env.SAMSA_KCAT ?? '/usr/bin/kcat';

/** Whether kcat is installed; throws under CI=true when it is not, else warns that `what` is skipped. */
export function kcatAvailable(what: string): boolean {
  if (fs.existsSync(KCAT)) return true;
  const msg = `${what}: no kcat at ${KCAT} (apt-get install kcat, or set SAMSA_KCAT)`;
  if (process.env.CI === 'true') throw new Error(`${msg} — required under CI=true`);
  console.warn(`\n*** SKIPPED: ${msg} ***\n`);
  return false;
}

/** `kcat -b <broker> ...args` with `input` on stdin; killed after `timeoutMs`. */
export function runKcat(broker: string, args: string[], input = '', timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(KCAT, ['-b', broker, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}
