// The reference kernel table: every kernel id mapped to its plain-TS definition.
import type { RefOpTable } from './backend.js';
import { gemmOps } from './gemm.js';
import { convOps } from './conv.js';
import { layersOps } from './layers.js';

export const referenceOps: RefOpTable = { ...gemmOps, ...convOps, ...layersOps };
