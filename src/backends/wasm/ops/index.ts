// The wasm operator table: every kernel id mapped to the TS operator that splits it over the threads.
import type { WasmOpTable } from '../context.js';
import { gemmOps } from './gemm.js';
import { convOps } from './conv.js';
import { layersOps } from './layers.js';

export const wasmOps: WasmOpTable = { ...gemmOps, ...convOps, ...layersOps };
