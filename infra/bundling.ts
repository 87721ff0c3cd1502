// How the Lambda bundles are built: NodejsFunction's local bundling (esbuild on this machine,
// no Docker), finished by infra/esbuild.ts in NodejsFunction's afterBundling hook. One
// definition for every function.
//
// NodejsFunction runs esbuild with --outfile and without plugins; the bundle Samsa ships needs
// code splitting (--outdir) and a plugin (the SDK schema keys), which cut the API function's
// init from ~160 to ~133 ms (bench/RESULTS.md). So NodejsFunction bundles as usual and the hook
// then rebuilds the same entry into the same directory: `index.mjs` (which NodejsFunction's
// handler `index.handler` names) plus its chunks. The asset hash is taken from that output.
import path from 'node:path';
import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { PROJECT_ROOT } from './esbuild';

export { PROJECT_ROOT };

/** NodejsFunction bundling options for `functions/<file>`. */
export function bundlingOptions(file: string): BundlingOptions {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return {
    format: OutputFormat.ESM,
    target: 'node22',
    minify: true,
    sourceMap: false,
    // The first pass is replaced by the hook; keep it from resolving zstd's WASM fallback,
    // which the final bundle leaves out too (infra/esbuild.ts).
    externalModules: ['@bokuweb/zstd-wasm'],
    mainFields: ['module', 'main'],
    esbuildArgs: { '--log-level': 'warning' },
    forceDockerBundling: false,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      // The same Node that runs synth, with tsx (a dev dependency, like the CDK itself) to load the TypeScript.
      afterBundling: (_inputDir: string, outputDir: string) => [
        `${quote(process.execPath)} --import tsx ${quote(path.join(PROJECT_ROOT, 'infra', 'esbuild.ts'))} ${quote(path.join(PROJECT_ROOT, 'functions', file))} ${quote(outputDir)}`,
      ],
    },
  };
}
