// Reference kernels (layers family). Placeholder: filled in by the kernel work.
import type { RefOpTable } from './backend.js';
export const layersOps: RefOpTable = {};
