// `npm run build`: compiles lib/ and bin/ to JavaScript + declaration files in dist/ with the
// TypeScript compiler (tsconfig.build.json), so the package runs on plain Node (no tsx) and
// types resolve under `moduleResolution: NodeNext`.
//
// The sources import each other with bundler-style specifiers (`./admin`, `../records`), which
// Node's ESM loader and NodeNext resolution both refuse. Rather than rewrite every import in
// lib/ (and fight every parallel change to it), the emit rewrites each relative specifier to the
// file it resolved to at compile time (`./admin.js`, `../records/index.js`), in the JavaScript
// and in the declarations alike. Resolution is the compiler's own, so what type-checks is what
// gets linked; a specifier it cannot resolve fails the build.
import fs from 'node:fs';
import path from 'node:path';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

// `prepare` runs this on every `npm ci`, including `npm ci --omit=dev` where the compiler is
// absent: then an existing dist/ is what runs, and only a missing one is an error.
let ts;
try {
  ts = (await import('typescript')).default;
} catch {
  if (fs.existsSync(path.join(root, 'dist', 'bin', 'samsa.js'))) {
    console.log('build: typescript is not installed (production install?); keeping dist/ as it is');
    process.exit(0);
  }
  console.error('build: typescript is not installed and there is no dist/ yet: run npm ci (with dev dependencies) first');
  process.exit(1);
}
const configPath = path.join(root, 'tsconfig.build.json');
const read = ts.readConfigFile(configPath, ts.sys.readFile);
if (read.error) fail([read.error]);
const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configPath);
if (parsed.errors.length) fail(parsed.errors);

const outDir = parsed.options.outDir;
const stamp = path.join(outDir, '.build-stamp');
// Up to date (npm start after npm start, the tests' second pack): nothing to do, unless --force.
const inputs = [...parsed.fileNames, configPath, path.join(root, 'tsconfig.json'), path.join(root, 'package.json'), new URL(import.meta.url).pathname];
const newest = Math.max(...inputs.map((f) => fs.statSync(f).mtimeMs));
if (!process.argv.includes('--force') && (fs.statSync(stamp, { throwIfNoEntry: false })?.mtimeMs ?? 0) > newest) {
  console.log(`build: ${path.relative(root, outDir)}/ is up to date`);
  process.exit(0);
}
// Emit into a fresh sibling folder and swap it in at the end, so that a process running or
// packing dist/ meanwhile (a server, a parallel test) never sees it half-written or missing.
const staging = `${outDir}.tmp-${process.pid}`;
fs.rmSync(staging, { recursive: true, force: true });
const program = ts.createProgram({ rootNames: parsed.fileNames, options: { ...parsed.options, outDir: staging } });
const unresolved = [];

/** The emitted specifier for `spec` imported from `fromFile` (a source path), or `spec` itself. */
function rewrite(spec, fromFile) {
  if (!spec.startsWith('./') && !spec.startsWith('../')) return spec; // packages and node: builtins
  const r = ts.resolveModuleName(spec, fromFile, parsed.options, ts.sys).resolvedModule;
  if (!r || r.isExternalLibraryImport) {
    unresolved.push(`${path.relative(root, fromFile)}: cannot resolve "${spec}"`);
    return spec;
  }
  const target = r.resolvedFileName.replace(/\.(d\.)?([cm]?)ts$/, '.$2js');
  let rel = path.relative(path.dirname(fromFile), target).split(path.sep).join('/');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return rel;
}

/** A transformer (for .js and .d.ts output) rewriting import/export/import() specifiers. */
const specifiers = (ctx) => (sf) => {
  const from = ts.getOriginalNode(sf).fileName ?? sf.fileName;
  const f = ctx.factory;
  const lit = (node) => f.createStringLiteral(rewrite(node.text, from));
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      return f.updateImportDeclaration(node, node.modifiers, node.importClause, lit(node.moduleSpecifier), node.attributes);
    }
    if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      return f.updateExportDeclaration(node, node.modifiers, node.isTypeOnly, node.exportClause, lit(node.moduleSpecifier), node.attributes);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments.length >= 1 && ts.isStringLiteral(node.arguments[0])) {
      return f.updateCallExpression(node, node.expression, node.typeArguments, [lit(node.arguments[0]), ...node.arguments.slice(1)]);
    }
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      const arg = f.updateLiteralTypeNode(node.argument, lit(node.argument.literal));
      return f.updateImportTypeNode(node, arg, node.attributes, node.qualifier, ts.visitNodes(node.typeArguments, visit), node.isTypeOf);
    }
    return ts.visitEachChild(node, visit, ctx);
  };
  return ts.visitEachChild(sf, visit, ctx);
};

const diagnostics = [...ts.getPreEmitDiagnostics(program)];
const emitted = program.emit(undefined, undefined, undefined, false, { after: [specifiers], afterDeclarations: [specifiers] });
diagnostics.push(...emitted.diagnostics);
if (diagnostics.length || unresolved.length) fs.rmSync(staging, { recursive: true, force: true });
if (diagnostics.length) fail(diagnostics);
if (unresolved.length) {
  console.error(`build: ${unresolved.length} relative import(s) did not resolve:\n  ${unresolved.join('\n  ')}`);
  process.exit(1);
}
// The CLI is the package's `bin`: npm links it, and the shebang (kept by tsc) runs it with node.
fs.chmodSync(path.join(staging, 'bin', 'samsa.js'), 0o755);
fs.writeFileSync(path.join(staging, '.build-stamp'), `${new Date().toISOString()}\n`);
const old = `${outDir}.old-${process.pid}`;
try {
  if (fs.existsSync(outDir)) fs.renameSync(outDir, old);
  fs.renameSync(staging, outDir);
} catch (err) {
  // A parallel build (two test files starting at once) swapped its identical output in at the
  // same moment: keep that one.
  fs.rmSync(staging, { recursive: true, force: true });
  if (!fs.existsSync(stamp)) throw err;
}
fs.rmSync(old, { recursive: true, force: true });
console.log(`build: ${parsed.fileNames.length} files → ${path.relative(root, outDir)}/`);

function fail(diags) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  console.error(ts.formatDiagnosticsWithColorAndContext(diags, host));
  process.exit(1);
}
