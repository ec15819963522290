// Reference kernels (conv family). Placeholder: filled in by the kernel work.
import type { RefOpTable } from './backend.js';
export const convOps: RefOpTable = {};
