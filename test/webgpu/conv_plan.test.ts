// Every VGG layer shape (CIFAR n32, ImageNet n4), every algo and pass, planned against WebGPU limits
// without a GPU: a recording context checks each dispatch's grid, bindings and workspaces fit the device.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Buf, CONV_ALGOS, type ConvShape, type KernelArgs, convOutSize } from '../../src/backend.js';
import type { Binding, DispatchSpec, WebGpuContext } from '../../src/backends/webgpu/context.js';
import { convOps } from '../../src/backends/webgpu/ops/conv.js';
import { validateKernelArgs } from '../../src/kernels/validate.js';
import { CIFAR_CONV_LAYERS, IMAGENET_CONV_LAYERS } from '../../src/runtime/shapes.js';

interface Limits { binding: number; buffer: number; perDim: number; invocations: number }
/** WebGPU's default limits (what a compatibility device gets) and a lavapipe core device. */
const DEVICES: Record<string, Limits> = {
  compat: { binding: 128 * 2 ** 20, buffer: 256 * 2 ** 20, perDim: 65535, invocations: 128 },
  core: { binding: 128 * 2 ** 20, buffer: 2 ** 32 - 1, perDim: 65535, invocations: 1024 },
};

interface Record_ { dispatches: DispatchSpec[]; workspaceBytes: number[] }

/** gemmGpu names GPUBufferUsage flags: while `fn` runs (synchronously), provide the spec's values if no
 *  WebGPU module has installed them yet, and remove them after so the real ones can be installed later. */
function withBufferUsage(fn: () => void): void {
  const g = globalThis as { GPUBufferUsage?: unknown };
  const had = 'GPUBufferUsage' in g;
  if (!had) {
    g.GPUBufferUsage = { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, INDEX: 16, VERTEX: 32, UNIFORM: 64, STORAGE: 128,
      INDIRECT: 256, QUERY_RESOLVE: 512 };
  }
  try { fn(); } finally { if (!had) delete g.GPUBufferUsage; }
}

function recordingContext(l: Limits, rec: Record_): WebGpuContext {
  const limits = { maxStorageBufferBindingSize: l.binding, maxBufferSize: l.buffer, maxComputeWorkgroupsPerDimension: l.perDim,
    maxComputeInvocationsPerWorkgroup: l.invocations } as unknown as GPUSupportedLimits;
  return {
    // gemmGpu binds a small placeholder buffer where a GEMM has no bias.
    device: { createBuffer: (d: GPUBufferDescriptor) => ({ size: d.size }) } as unknown as GPUDevice, compat: l.invocations <= 128, limits,
    maxStorageBuffers: l.invocations <= 128 ? 4 : 8, maxInvocations: l.invocations, maxWorkgroupBytes: 16384,
    gpuBuffer: () => { throw new Error('not used'); },
    workspace: (bytes: number, slot = 0) => {
      assert.ok(bytes <= Math.min(l.binding, l.buffer), `workspace slot ${slot} of ${bytes} bytes exceeds the binding limit`);
      rec.workspaceBytes[slot] = Math.max(rec.workspaceBytes[slot] ?? 0, bytes);
      return { size: bytes, label: `ws${slot}` } as unknown as GPUBuffer;
    },
    dispatch: (spec: DispatchSpec) => { rec.dispatches.push(spec); },
    copy: () => { throw new Error('not used'); },
  } as Partial<WebGpuContext> as WebGpuContext; // members the conv operators never call are left out
}

const fakeBuf = (length: number): Buf => ({ backend: 'webgpu', length });
const bytesOf = (b: Binding) => ('length' in b ? (b as Buf).length * 4 : (b as GPUBuffer).size);

function checkDispatch(l: Limits, d: DispatchSpec, where: string): void {
  assert.ok(d.buffers.length <= 4, `${where}: ${d.entryPoint} binds ${d.buffers.length} storage buffers`);
  for (const g of d.workgroups) {
    if (g === undefined) continue;
    assert.ok(Number.isInteger(g) && g >= 1 && g <= l.perDim, `${where}: ${d.entryPoint} grid ${d.workgroups}`);
  }
  for (const b of d.buffers) assert.ok(bytesOf(b) <= l.binding, `${where}: ${d.entryPoint} binds ${bytesOf(b)} bytes`);
  const c = d.constants ?? {};
  const wg = (c.WG ?? 1) * (c.WGX ?? 1) * (c.WGY ?? 1) * (c.WG_X ?? 1) * (c.WG_Y ?? 1);
  assert.ok(wg <= l.invocations, `${where}: ${d.entryPoint} has ${wg} invocations per workgroup`);
  for (const u of d.uniforms ?? []) {
    assert.ok(Number.isFinite(u.v) && (u.t === 'f32' || (Number.isInteger(u.v) && Math.abs(u.v) < 2 ** 32)),
      `${where}: ${d.entryPoint} uniform ${u.v}`);
  }
}

test('every VGG layer, algo and pass fits compat and core limits', () => withBufferUsage(() => {
  const summary: string[] = [];
  for (const [dev, l] of Object.entries(DEVICES)) {
    for (const { id, shape: s } of [...CIFAR_CONV_LAYERS, ...IMAGENET_CONV_LAYERS]) {
      const { oh, ow } = convOutSize(s);
      const x = fakeBuf(s.n * s.h * s.w * s.cin), y = fakeBuf(s.n * oh * ow * s.cout), w = fakeBuf(9 * s.cin * s.cout);
      const bias = fakeBuf(s.cout);
      for (const algo of CONV_ALGOS) {
        const passes: [string, () => void][] = [
          ['forward', () => convOps.conv2d_forward!(ctx, { x, w, bias, y, shape: s, algo, relu: true } as KernelArgs['conv2d_forward'])],
          ['data', () => convOps.conv2d_backward_data!(ctx, { dy: y, w, dx: x, shape: s, algo })],
          ['filter', () => convOps.conv2d_backward_filter!(ctx, { x, dy: y, dw: w, db: bias, shape: s, algo, beta: 1 })],
        ];
        const rec: Record_ = { dispatches: [], workspaceBytes: [] };
        const ctx = recordingContext(l, rec);
        for (const [pass, run] of passes) {
          rec.dispatches = [];
          run();
          assert.ok(rec.dispatches.length > 0, `${id} ${algo} ${pass}: nothing dispatched`);
          for (const d of rec.dispatches) checkDispatch(l, d, `${dev} ${id} ${algo} ${pass}`);
          if (dev === 'compat' && pass === 'forward' && id.endsWith('_n4')) {
            summary.push(`${id} ${algo}: ${rec.dispatches.length} dispatches`);
          }
        }
        const ws = rec.workspaceBytes.reduce((a, b) => a + (b ?? 0), 0);
        assert.ok(ws <= 1.1 * 2 ** 30, `${dev} ${id} ${algo}: ${ws} bytes of workspace`);
      }
    }
  }
  if (process.env.VGGRT_VERBOSE) console.log(summary.join('\n'));
}));

test('a tensor beyond one storage binding is refused with a clear error', () => {
  const s: ConvShape = { n: 64, h: 224, w: 224, cin: 64, cout: 64, kh: 3, kw: 3, stride: 1, pad: 1 };
  const ctx = recordingContext(DEVICES.core, { dispatches: [], workspaceBytes: [] });
  const x = fakeBuf(s.n * s.h * s.w * s.cin);
  assert.throws(() => convOps.conv2d_forward!(ctx, { x, w: fakeBuf(9 * 64 * 64), y: fakeBuf(x.length), shape: s, algo: 'winograd_f4x4' }),
    /conv2d_forward: x needs \d+ bytes, above this device's maxStorageBufferBindingSize/);
});

test('an output aliasing an input is refused before anything is dispatched', () => {
  const s: ConvShape = { n: 1, h: 4, w: 4, cin: 2, cout: 2, kh: 3, kw: 3, stride: 1, pad: 1 };
  const rec: Record_ = { dispatches: [], workspaceBytes: [] };
  const ctx = recordingContext(DEVICES.core, rec);
  const x = fakeBuf(32), w = fakeBuf(36), dw = fakeBuf(36);
  // backend.run validates (src/kernels/validate.ts) before it calls the operator, as here.
  const run = <K extends 'conv2d_forward' | 'conv2d_backward_filter'>(k: K, args: KernelArgs[K]) => {
    validateKernelArgs(k, args, () => {});
    (convOps[k] as (c: typeof ctx, a: KernelArgs[K]) => void)(ctx, args);
  };
  assert.throws(() => run('conv2d_forward', { x, w, y: x, shape: s, algo: 'im2col_gemm' }), /conv2d_forward: y must not be the same buffer as x/);
  assert.throws(() => run('conv2d_backward_filter', { x, dy: fakeBuf(32), dw, db: dw, shape: s, algo: 'winograd_f2x2', beta: 0 }),
    /conv2d_backward_filter: dw must not be the same buffer as db/);
  assert.is(rec.dispatches.length, 0);
});

test.run();
