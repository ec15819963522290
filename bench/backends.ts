// Builds the list of backends the bench suites measure on: wasm relaxed (per thread count), wasm plain SIMD on
// 1 thread (the GEMM plain-SIMD bar), and WebGPU when an adapter exists; every failure is reported, not hidden.
import type { Backend } from '../src/backend.js';
import { WasmBackend } from '../src/backends/wasm/backend.js';
import { hasRelaxedSimd } from '../src/backends/wasm/loader.js';
import type { BenchBackend } from './record.js';

export interface BackendRequest {
  /** Backend kinds to create: 'wasm', 'webgpu'. */
  kinds: string[];
  /** wasm thread counts. */
  threads: number[];
  /** Shared-memory size for each wasm backend; ImageNet-scale layers need about 300 MiB. */
  memoryMiB?: number;
}

export interface CreatedBackends {
  list: BenchBackend[];
  /** One line per backend that could not be created, with the reason. */
  notes: string[];
  /** Description of the GPU adapter when WebGPU came up (for the environment block). */
  gpu?: string;
}

/** What the WebGPU module (written by another helper) may export; we accept either shape. */
interface WebGpuModule {
  WebGpuBackend?: { create(opts?: Record<string, unknown>): Promise<Backend> };
  createWebGpuBackend?: (opts?: Record<string, unknown>) => Promise<Backend>;
}

/** The software rasterizer behind a WebGPU adapter description (Mesa's lavapipe/llvmpipe on Vulkan or GL,
 *  SwiftShader), or undefined for a hardware adapter: its rows say nothing about GPUs, so they are marked. */
export function softwareGpu(description: string): string | undefined {
  if (/llvmpipe|lavapipe/i.test(description)) return 'lavapipe';
  if (/swiftshader/i.test(description)) return 'swiftshader';
  if (/software/i.test(description)) return 'software';
  return undefined;
}

/** Row label of a WebGPU backend: 'webgpu', or 'webgpu-<rasterizer>' on a software adapter. */
export function webgpuLabel(description: string): string {
  const sw = softwareGpu(description);
  return sw ? `webgpu-${sw}` : 'webgpu';
}

async function createWebGpu(): Promise<Backend> {
  const mod = await import('../src/backends/webgpu/backend.js' as string) as WebGpuModule;
  if (mod.WebGpuBackend?.create) return mod.WebGpuBackend.create();
  if (mod.createWebGpuBackend) return mod.createWebGpuBackend();
  throw new Error('src/backends/webgpu/backend.js exports neither WebGpuBackend.create nor createWebGpuBackend');
}

export async function createBenchBackends(req: BackendRequest, log: (m: string) => void): Promise<CreatedBackends> {
  const out: CreatedBackends = { list: [], notes: [] };
  const memoryMiB = req.memoryMiB ?? 1024;
  if (req.kinds.includes('wasm')) {
    const relaxed = hasRelaxedSimd();
    if (!relaxed) out.notes.push('wasm relaxed SIMD unavailable (run node with --experimental-wasm-relaxed-simd): relaxed rows skipped');
    for (const threads of req.threads) {
      if (relaxed) {
        try {
          const backend = await WasmBackend.create({ threads, build: 'relaxed', memoryMiB });
          out.list.push({ backend, label: `wasm-relaxed-t${threads}`, threads, algoTag: 'relaxed' });
        } catch (e) { out.notes.push(`wasm relaxed t${threads}: ${(e as Error).message}`); }
      }
      // The plain-SIMD build only on 1 thread: it exists for the plain-SIMD GEMM bar and for engines without
      // relaxed SIMD, not to double every row.
      if (threads === 1 || !relaxed) {
        try {
          const backend = await WasmBackend.create({ threads, build: 'simd', memoryMiB });
          out.list.push({ backend, label: `wasm-simd-t${threads}`, threads, algoTag: 'simd' });
        } catch (e) { out.notes.push(`wasm simd t${threads}: ${(e as Error).message}`); }
      }
    }
  }
  if (req.kinds.includes('webgpu')) {
    try {
      const backend = await createWebGpu();
      out.list.push({ backend, label: webgpuLabel(backend.description), threads: 1, algoTag: 'webgpu' });
      out.gpu = backend.description;
    } catch (e) {
      const why = `WebGPU backend NOT measured: ${(e as Error).message}`;
      out.notes.push(why);
      log(`\n!!! ${why}\n`);
    }
  }
  for (const k of req.kinds) if (k !== 'wasm' && k !== 'webgpu') out.notes.push(`unknown backend kind '${k}' ignored`);
  return out;
}

export async function disposeBenchBackends(list: BenchBackend[]): Promise<void> {
  for (const b of list) {
    try { await b.backend.dispose(); } catch { /* a failed dispose must not lose the results already written */ }
  }
}
