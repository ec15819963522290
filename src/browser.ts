// Browser entry point: the part of the public API that loads in a web page (index.ts also pulls in
// checkpoint files, the trainer and the dataset readers, which import node:fs at module load).
export * from './backend.js';
export { ReferenceBackend } from './backends/reference/backend.js';
export { WasmBackend, type WasmBackendOptions } from './backends/wasm/backend.js';
export { type WasmBuild, chooseBuild, hasRelaxedSimd, hasSharedMemory, hasSimd } from './backends/wasm/loader.js';
export { WebGpuBackend, type WebGpuBackendOptions, DeviceLostError } from './backends/webgpu/backend.js';

export {
  VGG_CONFIGS, VGG_CONFIG_NAMES, type VggConfigName, type CfgItem, type VggOptions, type VggSpec, type LayerSpec,
  vggSpec, paramCount,
} from './nn/vgg.js';
export { Model, type Plan, singleBackendPlan } from './nn/model.js';
export { SoftmaxCrossEntropy } from './nn/loss.js';
export { SGD, type SgdOptions } from './nn/optim.js';
export { INIT_SCHEMES, type InitScheme, initModel } from './nn/init.js';
export { Rng } from './nn/rng.js';
