// The backends every kernel test runs on, each compared against the reference. Missing in CI = failure.
import type { Backend } from '../src/backend.js';
import { ReferenceBackend } from '../src/backends/reference/backend.js';
import { WasmBackend } from '../src/backends/wasm/backend.js';

export interface BackendUnderTest { label: string; backend: Backend }

let cached: Promise<BackendUnderTest[]> | undefined;

async function makeWebGpu(): Promise<BackendUnderTest[]> {
  let mod: { createWebGpuBackendsForTests?: () => Promise<BackendUnderTest[]> };
  try {
    mod = await import('../src/backends/webgpu/testing.js' as string);
  } catch (e) {
    return fail(`the WebGPU backend module is missing (${(e as Error).message})`);
  }
  if (!mod.createWebGpuBackendsForTests) return fail('the WebGPU backend has no test factory');
  try {
    return await mod.createWebGpuBackendsForTests();
  } catch (e) {
    return fail(`no WebGPU adapter: ${(e as Error).message}`);
  }
}

function fail(why: string): BackendUnderTest[] {
  if (process.env.CI === 'true' || process.env.VGGRT_REQUIRE_WEBGPU === '1') throw new Error(`vggrt tests: ${why}`);
  console.warn(`\n!!! WebGPU kernels NOT TESTED: ${why} (CI=true makes this a failure)\n`);
  return [];
}

/** wasm on 1 and 2 threads, then WebGPU adapters (core lavapipe, and compatibility mode when present). */
export function backendsUnderTest(): Promise<BackendUnderTest[]> {
  cached ??= (async () => {
    const list: BackendUnderTest[] = [
      { label: 'wasm-t1', backend: await WasmBackend.create({ threads: 1, memoryMiB: 512 }) },
      { label: 'wasm-t2', backend: await WasmBackend.create({ threads: 2, memoryMiB: 512 }) },
    ];
    if (process.env.VGGRT_TEST_BACKENDS !== 'wasm') list.push(...(await makeWebGpu()));
    return list;
  })();
  return cached;
}

/** Releases workers and GPU devices so the test process can exit. */
export async function disposeBackendsUnderTest(): Promise<void> {
  if (!cached) return;
  const list = await cached.catch(() => []);
  for (const { backend } of list) await backend.dispose();
  cached = undefined;
}

export const reference = new ReferenceBackend();

/** Deterministic pseudo-random floats in [-1, 1) for test inputs. */
export { randomArray } from '../src/util/random.js';

/** Max |a-b| / max(|b|, floor) over all elements; floor keeps near-zero entries from dominating. */
export function maxRelErr(a: Float32Array, b: Float32Array, floor = 1): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let scale = floor;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m / scale;
}

/** Upload host data to a backend buffer. */
export function upload(be: Backend, data: Float32Array) {
  const b = be.alloc(data.length);
  be.write(b, data);
  return b;
}
