// The fuzzer's CI-sized run (the long run is `npm run test:fuzz -- --requests 100000 ...`,
// recorded in docs/limits.md): a fixed seed against a real embedded server process and an
// AWS-mode server process on the emulator. Any 5xx, crash, RSS over the bound or state change
// by a rejected request fails the test with the fuzzer's replay command.
import { it } from 'vitest';
import { awsEndpoint, describeAws } from '../helpers/aws';
import { type FuzzReport, runFuzz, summary } from './fuzz';

function expectClean(report: FuzzReport, requests: number): void {
  const problems = report.failures.map((f) => `#${f.index} [${f.kind}] ${f.request}\n  ${f.problem}\n  replay: ${f.replay}`);
  if (problems.length > 0 || report.requests !== requests) {
    throw new Error(`${summary(report)}\n${problems.join('\n')}`);
  }
}

it('embedded: 1,000 generated and hostile requests, no failure', async () => {
  const report = await runFuzz({ requests: 1000, seed: 20261130, target: 'embedded', log: () => {} });
  console.log(summary(report));
  expectClean(report, 1000);
}, 120_000);

describeAws('AWS mode on the emulator', () => {
  it('100 generated and hostile requests, no failure', async () => {
    const report = await runFuzz({ requests: 100, seed: 20261130, target: 'aws', awsEndpoint: awsEndpoint()!, log: () => {} });
    console.log(summary(report));
    expectClean(report, 100);
  }, 180_000);
});
