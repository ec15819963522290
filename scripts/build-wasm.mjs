// Builds both kernel targets of asconfig.json (relaxed and plain SIMD) at once, one asc process each: on two
// cores that halves `npm run build`'s wasm part (12 s each in turn, 14 s together). A target whose .wasm and .wat are
// newer than every input (assembly/, asconfig.json, this script, the assemblyscript package) is left as it is, so
// `npm test`, `npm run train` and `npm run bench` start without recompiling unchanged kernels; --force rebuilds all.
// Exits non-zero if either fails.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const asc = require.resolve('assemblyscript/bin/asc.js');
const config = JSON.parse(readFileSync('asconfig.json', 'utf8'));
const TARGETS = ['relaxed', 'simd'];

/** Newest modification time (ms) of the files under dir. */
function newestUnder(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestUnder(p) : statSync(p).mtimeMs);
  }
  return t;
}
const inputs = Math.max(newestUnder('assembly'), statSync('asconfig.json').mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs,
  statSync(require.resolve('assemblyscript/package.json')).mtimeMs);
const upToDate = (target) => {
  const { outFile, textFile } = config.targets[target];
  try {
    return [outFile, textFile].every((f) => statSync(f).mtimeMs > inputs);
  } catch {
    return false; // not built yet
  }
};

const build = (target) => new Promise((resolve) => {
  const child = spawn(process.execPath, [asc, 'assembly/index.ts', '--config', 'asconfig.json', '--target', target], { stdio: 'inherit' });
  child.on('error', (e) => { console.error(`asc --target ${target}: ${e.message}`); resolve(1); });
  child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});

const force = process.argv.includes('--force');
const stale = TARGETS.filter((t) => force || !upToDate(t));
for (const t of TARGETS) if (!stale.includes(t)) console.log(`build:wasm: ${config.targets[t].outFile} is up to date`);
const codes = await Promise.all(stale.map(build));
const failed = stale.filter((_, i) => codes[i] !== 0);
if (failed.length) {
  console.error(`build:wasm: asc failed for target ${failed.join(', ')}`);
  process.exit(1);
}
