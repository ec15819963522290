// wasm operators (gemm family). Placeholder: filled in by the kernel work.
import type { WasmOpTable } from '../context.js';
export const gemmOps: WasmOpTable = {};
