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

/** The backends a run plans over, the host first: 'auto' is wasm (else the reference) plus WebGPU when one can be
 *  created (its failure is reported, not fatal); any other choice is that one backend. */
export async function createBackends(choice: BackendChoice, threads: number, memoryMiB?: number): Promise<Backend[]> {
  if (choice !== 'auto') return [await createBackend(choice, threads, memoryMiB)];
  let host: Backend;
  try { host = await WasmBackend.create({ threads, memoryMiB }); } catch (e) {
    console.warn(`vggrt: no wasm backend (${(e as Error).message}); using the reference backend`);
    host = new ReferenceBackend();
  }
  try { return [host, await webgpu()]; } catch (e) {
    console.warn(`vggrt: no WebGPU backend (${(e as Error).message.split('\n')[0]}); planning on ${host.name} alone`);
    return [host];
  }
}
