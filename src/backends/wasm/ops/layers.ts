// wasm operators (layers family). Placeholder: filled in by the kernel work.
import type { WasmOpTable } from '../context.js';
export const layersOps: WasmOpTable = {};
