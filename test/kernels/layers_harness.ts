// Shared harness for the layers-family kernel tests: run one kernel on the reference and on a backend over
// the same host inputs, and read every buffer back from both.
import type { Backend, Buf, KernelArgs, KernelId } from '../../src/backend.js';
import { reference } from '../backends.js';

export type HostBufs = Record<string, Float32Array>;

async function runOn<K extends KernelId>(be: Backend, kernel: K, bufs: HostBufs, scalars: object): Promise<HostBufs> {
  const args: Record<string, unknown> = { ...scalars };
  const handles: Record<string, Buf> = {};
  const seen = new Map<Float32Array, Buf>(); // the same host array twice = the same (aliased) buffer
  for (const [name, data] of Object.entries(bufs)) {
    let b = seen.get(data);
    if (!b) { b = be.alloc(data.length); be.write(b, data); seen.set(data, b); }
    handles[name] = b; args[name] = b;
  }
  try {
    be.run(kernel, args as unknown as KernelArgs[K]);
    await be.sync();
    const out: HostBufs = {};
    for (const [name, b] of Object.entries(handles)) out[name] = await be.read(b);
    return out;
  } finally {
    for (const b of new Set(Object.values(handles))) be.free(b);
  }
}

/** Runs `kernel` with the same inputs on the reference and on `be`; returns both sets of buffers. */
export async function runBoth<K extends KernelId>(be: Backend, kernel: K, bufs: HostBufs, scalars: object): Promise<{ ref: HostBufs; got: HostBufs }> {
  const ref = await runOn(reference, kernel, bufs, scalars);
  const got = await runOn(be, kernel, bufs, scalars);
  return { ref, got };
}

/** Runs on one backend only (for error checks and gradient checks). */
export { runOn };

/** Index of the first element that differs bit-for-bit (NaN equals NaN), or -1. */
export function firstMismatch(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!(a[i] === b[i] || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) return i;
  return -1;
}

export function filled(n: number, v: number): Float32Array { return new Float32Array(n).fill(v); }
