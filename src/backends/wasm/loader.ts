// Loads the AssemblyScript kernel module: probes relaxed SIMD and picks the relaxed or plain-SIMD build.

import { fingerprint } from '../../util/fingerprint.js';

export type WasmBuild = 'relaxed' | 'simd';

// A minimal module with one function using f32x4.relaxed_madd (0xfd 0x105). It validates only where the
// engine has relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd on the node command line).
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,
]);
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x10, 0x01, 0x0e, 0x00, 0x20, 0x00, 0x20, 0x01, 0xfd, 0xe6, 0x01, 0x20, 0x02, 0xfd, 0xe4, 0x01, 0x0b,
]);

export function hasRelaxedSimd(): boolean { return WebAssembly.validate(RELAXED_PROBE); }
export function hasSimd(): boolean { return WebAssembly.validate(SIMD_PROBE); }
export function hasSharedMemory(): boolean {
  try {
    return new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch { return false; }
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

async function fetchBytes(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (isNode && url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    try {
      return new Uint8Array(await readFile(url));
    } catch (e) {
      throw new Error(`vggrt: cannot read the kernel module ${url.pathname}: run \`npm run build\` first (${(e as Error).message})`);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`vggrt: cannot fetch the kernel module ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Resolve which build to use. 'auto' takes relaxed when the engine validates it. */
export function chooseBuild(requested: WasmBuild | 'auto' = 'auto'): WasmBuild {
  if (!hasSimd()) throw new Error('vggrt: this engine lacks WebAssembly SIMD (fixed-width SIMD128), which every vggrt kernel needs');
  if (!hasSharedMemory()) {
    throw new Error('vggrt: this engine has no shared WebAssembly memory; in a browser serve the page with ' +
      'Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp');
  }
  if (requested === 'relaxed' && !hasRelaxedSimd()) {
    throw new Error('vggrt: the relaxed-SIMD build was requested but this engine has no relaxed SIMD ' +
      '(Node 20: run node with --experimental-wasm-relaxed-simd)');
  }
  if (requested === 'auto') return hasRelaxedSimd() ? 'relaxed' : 'simd';
  return requested;
}

/** Compiles the kernel module of `build`; also returns its bytes' fingerprint (the tuning cache keys on it). */
export async function loadModule(build: WasmBuild, baseUrl?: URL): Promise<{ module: WebAssembly.Module; kernelsId: string }> {
  const url = new URL(`vggrt-${build}.wasm`, baseUrl ?? new URL('../../../../build/', import.meta.url));
  const bytes = await fetchBytes(url);
  return { module: await WebAssembly.compile(bytes), kernelsId: `wasm:${fingerprint(bytes)}` };
}
