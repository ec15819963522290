// Test entry point: runs every dist/test/**/*.test.js through uvu, disposes the shared backends, and
// ends with a plain "N passed, N failed" line and the exit code (a GPU device would otherwise hold the process).
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { disposeBackendsUnderTest } from './backends.js';

const root = fileURLToPath(new URL('.', import.meta.url));
// Tests that plan must not read or write the user's tuning cache.
process.env.VGGRT_TUNING_DIR ??= mkdtempSync(join(tmpdir(), 'vggrt-test-tuning-'));
const pattern = new RegExp(process.argv[2] ?? '\\.test\\.js$');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const files = walk(root).filter((f) => f.endsWith('.test.js') && pattern.test(relative(root, f))).sort();
if (files.length === 0) {
  console.error(`no test files match ${pattern}`);
  process.exit(1);
}

const g = globalThis as unknown as { UVU_DEFER: number; UVU_INDEX: number; UVU_QUEUE: unknown[][] };
g.UVU_DEFER = 1;
const uvu = await import('uvu');
files.forEach((file, i) => {
  g.UVU_INDEX = i;
  g.UVU_QUEUE.push([relative(root, file)]);
});
for (const [i, file] of files.entries()) {
  g.UVU_INDEX = i;
  await import(pathToFileURL(file).href);
}

// Count from uvu's own summary lines so the closing line agrees with what uvu printed.
let captured = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;
await (uvu as unknown as { exec(bail?: boolean): Promise<void> }).exec(false);
process.stdout.write = write;

// eslint-disable-next-line no-control-regex
const plain = captured.replace(/\x1b\[[0-9;]*m/g, '');
const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const code = (process.exitCode as number | undefined) ?? 0;
await disposeBackendsUnderTest();
console.log(`${passed} passed, ${total - passed} failed, ${skipped} skipped`);
process.exit(code || (total === 0 ? 1 : 0));
