// wasm operators (conv family). Placeholder: filled in by the kernel work.
import type { WasmOpTable } from '../context.js';
export const convOps: WasmOpTable = {};
