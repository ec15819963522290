// vggrt's public API: the Backend contract, the backends, the VGG model zoo, the training engine and the data pipeline.
export * from './backend.js';
export { ReferenceBackend } from './backends/reference/backend.js';
export { WasmBackend, type WasmBackendOptions } from './backends/wasm/backend.js';
export { WebGpuBackend, type WebGpuBackendOptions, DeviceLostError } from './backends/webgpu/backend.js';

export {
  VGG_CONFIGS, VGG_CONFIG_NAMES, TORCHVISION_NAMES, type VggConfigName, type CfgItem, type VggOptions, type VggSpec, type LayerSpec,
  vggSpec, paramCount, specParamShapes, parseModelName, defaultConvAlgo,
} from './nn/vgg.js';
export {
  Layer, Conv2d, Linear, BatchNorm2d, ReLU, MaxPool2d, LocalResponseNorm, Dropout, Flatten, AdaptiveAvgPool7,
  type ActShape, type Param, type StateTensor,
} from './nn/layers.js';
export { Model, type Plan, type TransferPoint, singleBackendPlan } from './nn/model.js';
export { SoftmaxCrossEntropy } from './nn/loss.js';
export { SGD, type SgdOptions } from './nn/optim.js';
export { LrSchedule, SCHEDULE_NAMES, type ScheduleName, type ScheduleOptions } from './nn/schedule.js';
export { INIT_SCHEMES, type InitScheme, initModel, initWeight } from './nn/init.js';
export { Rng, deriveSeed } from './nn/rng.js';
export { MetricAccumulator, topKCorrect, type EpochMetrics } from './nn/metrics.js';
export { Trainer, type TrainState, type EpochRecord, readTrainState } from './nn/trainer.js';
export { warmStartMapping, warmStartTensors } from './nn/warmstart.js';
export {
  exportStateDict, importStateDict, saveWeights, loadWeights, writeFileAtomic, hwioToOihw, oihwToHwio, permuteColumns,
} from './nn/checkpoint.js';
export { parseSafetensors, serializeSafetensors, type SafeTensor, type SafeEntry } from './nn/safetensors.js';

export { type Dataset, type DatasetName, DATASET_NAMES, DATASET_INFO, loadDataset } from './data/dataset.js';
export { DataLoader, type DataLoaderOptions, type Batch, type LoaderState } from './data/loader.js';
