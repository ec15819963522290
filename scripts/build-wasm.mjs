// Builds both kernel targets of asconfig.json (relaxed and plain SIMD) at once, one asc process each: on two
// cores that halves `npm run build`'s wasm part (12 s each in turn, 14 s together). A target is left as it is when
// its .wasm and .wat exist and the stamp written beside them after its last build holds the same hash of every input
// (the files under assembly/, asconfig.json, this script, the assemblyscript version), so `npm test`, `npm run train`
// and `npm run bench` start without recompiling unchanged kernels; --force rebuilds all. The hash, not modification
// times: an edit reverted with its old time (a copy that keeps times, a checkout of an older tree on some tools) left a
// .wasm newer than every input yet built from the edit. Exits non-zero if either fails.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const asc = require.resolve('assemblyscript/bin/asc.js');
const config = JSON.parse(readFileSync('asconfig.json', 'utf8'));
const TARGETS = ['relaxed', 'simd'];

/** The files under dir, sorted, paths relative to the repository root. */
function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}
const inputsHash = (() => {
  const h = createHash('sha256');
  for (const f of [...filesUnder('assembly'), 'asconfig.json', fileURLToPath(import.meta.url)]) {
    h.update(`${f}\0`).update(readFileSync(f)).update('\0');
  }
  h.update(JSON.parse(readFileSync(require.resolve('assemblyscript/package.json'), 'utf8')).version);
  return h.digest('hex');
})();
const stampOf = (target) => `${config.targets[target].outFile}.inputs`;
const upToDate = (target) => {
  const { outFile, textFile } = config.targets[target];
  // Not built yet, or built before stamps: no stamp.
  return existsSync(outFile) && existsSync(textFile) && existsSync(stampOf(target)) && readFileSync(stampOf(target), 'utf8').trim() === inputsHash;
};

const build = (target) => new Promise((resolve) => {
  const child = spawn(process.execPath, [asc, 'assembly/index.ts', '--config', 'asconfig.json', '--target', target], { stdio: 'inherit' });
  child.on('error', (e) => { console.error(`asc --target ${target}: ${e.message}`); resolve(1); });
  child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});

const force = process.argv.includes('--force');
const stale = TARGETS.filter((t) => force || !upToDate(t));
for (const t of TARGETS) if (!stale.includes(t)) console.log(`build:wasm: ${config.targets[t].outFile} is up to date`);
// A stamp goes only after a build that succeeded; a failed or interrupted one leaves none.
for (const t of stale) rmSync(stampOf(t), { force: true });
const codes = await Promise.all(stale.map(build));
stale.forEach((t, i) => { if (codes[i] === 0) writeFileSync(stampOf(t), `${inputsHash}\n`); });
const failed = stale.filter((_, i) => codes[i] !== 0);
if (failed.length) {
  console.error(`build:wasm: asc failed for target ${failed.join(', ')}`);
  process.exit(1);
}
