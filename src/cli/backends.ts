// Backend selection for the command-line tools: wasm, webgpu, reference or auto (tries in order, reports every failure).
import type { Backend } from '../backend.js';
import { ReferenceBackend } from '../backends/reference/backend.js';
import { WasmBackend } from '../backends/wasm/backend.js';

export type BackendChoice = 'wasm' | 'webgpu' | 'reference' | 'auto';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['wasm', 'webgpu', 'reference', 'auto'];

async function webgpu(): Promise<Backend> {
  const mod = await import('../backends/webgpu/backend.js');
  return mod.WebGpuBackend.create();
}

/** Creates the backend asked for. 'auto' prefers wasm (on CPU-only machines the software GPU is slower)
 *  and falls back to WebGPU, then the reference; every failure seen is in the error when all fail. */
export async function createBackend(choice: BackendChoice, threads: number, memoryMiB?: number): Promise<Backend> {
  if (choice === 'reference') return new ReferenceBackend();
  if (choice === 'wasm') return WasmBackend.create({ threads, memoryMiB });
  if (choice === 'webgpu') return webgpu();
  const failures: string[] = [];
  for (const [name, make] of [['wasm', () => WasmBackend.create({ threads, memoryMiB })], ['webgpu', webgpu]] as const) {
    try { return await make(); } catch (e) { failures.push(`${name}: ${(e as Error).message}`); }
  }
  console.warn(`vggrt: no fast backend (${failures.join('; ')}); using the reference backend`);
  return new ReferenceBackend();
}
