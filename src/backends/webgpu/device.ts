// Acquires a WebGPU adapter and device (Dawn's `webgpu` package in Node, navigator.gpu in a browser) and
// records what the kernels must fit: core vs compatibility mode and the limits tile sizes are chosen from.

/** Thrown by every call after the device was lost; the planner catches it and falls back to wasm. */
export class DeviceLostError extends Error {
  constructor(readonly reason: string, detail: string) {
    super(`vggrt webgpu: the GPU device was lost (${reason}): ${detail}`);
    this.name = 'DeviceLostError';
  }
}

export interface WebGpuDeviceOptions {
  /** 'core' (default) asks for a core adapter first and falls back to compatibility mode;
   *  'compat' asks for a compatibility adapter and keeps its default (small) limits. */
  featureLevel?: 'core' | 'compat';
  /** Node only: options for Dawn's create(), e.g. ['backend=opengl'] or ['backend=vulkan']. */
  dawnOptions?: string[];
  powerPreference?: GPUPowerPreference;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapterInfo: string;
  /** True when the device runs in compatibility mode (no 'core-features-and-limits'). */
  compat: boolean;
  hasTimestamps: boolean;
  /** Keeps Dawn's GPU object alive while the device is used; dropped in dispose(). */
  gpuRef: unknown;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

async function nodeGpu(dawnOptions: string[]): Promise<GPU> {
  // A computed specifier keeps bundlers from pulling the native addon into browser builds.
  const spec = 'webgpu';
  const mod = (await import(spec)) as { create: (o: string[]) => GPU; globals: Record<string, unknown> };
  // Dawn's module supplies GPUBufferUsage, GPUMapMode... as globals, which WebGPU code expects.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  return mod.create(dawnOptions);
}

/** Limits raised to the adapter's values on a core device (defaults are too small for VGG layers). */
const RAISED_LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
] as const;

export async function acquireDevice(opts: WebGpuDeviceOptions = {}): Promise<AcquiredDevice> {
  const level = opts.featureLevel ?? 'core';
  let gpu: GPU | undefined;
  if (isNode) {
    if (level === 'compat' && !process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
    gpu = await nodeGpu(opts.dawnOptions ?? []);
  } else {
    gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (!gpu) throw new Error('vggrt webgpu: navigator.gpu is missing (this browser has no WebGPU)');
  }
  const req = { powerPreference: opts.powerPreference } as GPURequestAdapterOptions & { featureLevel?: string };
  if (level === 'compat') req.featureLevel = 'compatibility';
  let adapter = await gpu.requestAdapter(req);
  let askedCompat = level === 'compat';
  if (!adapter && level === 'core') {
    adapter = await gpu.requestAdapter({ ...req, featureLevel: 'compatibility' } as GPURequestAdapterOptions);
    askedCompat = true;
  }
  if (!adapter) throw new Error(`vggrt webgpu: no ${level} adapter (options ${JSON.stringify(opts.dawnOptions ?? [])})`);

  // Implementations that know compatibility mode mark core adapters with 'core-features-and-limits';
  // older ones only have core adapters, and say nothing.
  const hasCoreFeature = adapter.features.has('core-features-and-limits');
  const compat = level === 'compat' || (askedCompat && !hasCoreFeature);
  const hasTimestamps = adapter.features.has('timestamp-query');
  const requiredFeatures: GPUFeatureName[] = [];
  if (!compat && hasCoreFeature) requiredFeatures.push('core-features-and-limits' as GPUFeatureName);
  if (hasTimestamps) requiredFeatures.push('timestamp-query');
  const requiredLimits: Record<string, number> = {};
  if (!compat) for (const k of RAISED_LIMITS) requiredLimits[k] = adapter.limits[k];
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });

  const i = adapter.info;
  const adapterInfo = [i?.vendor, i?.architecture, i?.device, i?.description].filter((s) => s).join(' ').trim() || 'unknown adapter';
  return { device, adapterInfo, compat, hasTimestamps, gpuRef: gpu };
}
