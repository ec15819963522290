// The WebGPU operator table: every kernel id mapped to the TS operator that encodes its dispatches.
import type { WebGpuOpTable } from '../context.js';
import { convOps } from './conv.js';
import { gemmOps } from './gemm.js';
import { layersOps } from './layers.js';

export const webgpuOps: WebGpuOpTable = { ...gemmOps, ...convOps, ...layersOps };
