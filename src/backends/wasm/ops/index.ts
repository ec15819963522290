// The wasm operator table: every kernel id mapped to the TS operator that splits it over the threads.
import type { WasmOpTable } from '../context.js';
import { gemmOps, gemmTuning } from './gemm.js';
import { convOps } from './conv.js';
import { layersOps } from './layers.js';
import { convLimits } from './conv_im2col.js';
import { map2x2Limits } from './conv_map2x2.js';
import { smallMapLimits } from './conv_smallmap.js';
import { claimRanges, phasedAdjoint, positionSkew, winogradColBlock } from './conv_winograd.js';
import { threadGap } from '../allocator.js';

export const wasmOps: WasmOpTable = { ...gemmOps, ...convOps, ...layersOps };

/** The operators' tunable parameters (block sizes, workspace budgets, claim plans) as one string: they change a kernel's
 *  time as much as its code does, so the tuning cache keys on them with the binary (WasmBackend.kernelsId). A tuning
 *  measured before the column blocks went from 16 to 32 channels kept choosing from the old times (the plan of
 *  VGG-11 then ran 1.068x slower than with one layer's algorithm changed, whose time it had not seen). */
export function opsParameters(): string {
  return JSON.stringify({ gemmTuning, convLimits, map2x2Limits, smallMapLimits, claimRanges, phasedAdjoint, positionSkew, winogradColBlock,
    threadGap });
}
