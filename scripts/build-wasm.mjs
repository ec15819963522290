// Builds both kernel targets of asconfig.json (relaxed and plain SIMD) at once, one asc process each: on two
// cores that halves `npm run build`'s wasm part (12 s each in turn, 14 s together). Exits non-zero if either fails.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const asc = createRequire(import.meta.url).resolve('assemblyscript/bin/asc.js');
const TARGETS = ['relaxed', 'simd'];

const build = (target) => new Promise((resolve) => {
  const child = spawn(process.execPath, [asc, 'assembly/index.ts', '--config', 'asconfig.json', '--target', target], { stdio: 'inherit' });
  child.on('error', (e) => { console.error(`asc --target ${target}: ${e.message}`); resolve(1); });
  child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});

const codes = await Promise.all(TARGETS.map(build));
const failed = TARGETS.filter((_, i) => codes[i] !== 0);
if (failed.length) {
  console.error(`build:wasm: asc failed for target ${failed.join(', ')}`);
  process.exit(1);
}
