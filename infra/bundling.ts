// How the Lambda bundles are built: infra/esbuild.ts (the project's esbuild, run locally, no
// Docker; ESM, minified, split into chunks) behind CDK's local-bundling hook. One definition for
// every function.
//
// Why not NodejsFunction: it passes --outfile, and esbuild's code splitting needs --outdir; and
// its esbuild runs without plugins. This is the same hook NodejsFunction uses (Code.fromAsset on
// the project root, asset hash from the output), minus those two restrictions.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { AssetHashType, DockerImage, type ILocalBundling } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { PROJECT_ROOT } from './esbuild';

/** The handler file every bundle exposes: `index.mjs`, so the Lambda handler is `index.handler`. */
export const BUNDLE_HANDLER = 'index.handler';

/**
 * Local bundling of one entry. A class, not an object literal: CDK keys its in-process asset
 * cache on the bundling options' JSON, where a function does not show but `entry` does, so
 * each function gets its own bundle.
 *
 * CDK calls tryBundle synchronously and esbuild plugins need esbuild's asynchronous API, so the
 * build runs in a child Node process (as NodejsFunction runs the esbuild binary).
 */
class LocalEsbuild implements ILocalBundling {
  constructor(readonly entry: string) {}

  tryBundle(outputDir: string): boolean {
    const res = spawnSync(process.execPath, ['--import', 'tsx', path.join('infra', 'esbuild.ts'), this.entry, outputDir], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', process.stderr, 'inherit'],
    });
    if (res.error) throw res.error;
    if (res.status !== 0) throw new Error(`bundling ${this.entry} failed (${res.status ?? res.signal})`);
    return true;
  }
}

/**
 * The Lambda code asset for `functions/<file>`, bundled at synth time by the installed esbuild
 * (it comes with tsx, a dependency; NodejsFunction found and ran the same copy), so synth stays
 * offline. The Docker image is never used: local bundling either succeeds or throws.
 */
export function functionCode(file: string): lambda.Code {
  return lambda.Code.fromAsset(PROJECT_ROOT, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: { image: DockerImage.fromRegistry('samsa-bundles-locally'), local: new LocalEsbuild(path.join('functions', file)) },
  });
}
