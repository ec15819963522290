// Layers bench suite: every non-GEMM, non-conv kernel of a training step (plus the im2col path's im2col and
// col2im) on real VGG activation sizes (CIFAR batch 32, FC batch 64); memory-bound, so GB/s (bytes each kernel must move / time) goes in extra.
import type { Backend, Buf, KernelArgs, KernelId } from '../../src/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import { type BenchRecord, type Suite, type SuiteContext, compileMsSoFar, measureKernel, measuredExtra, selected } from '../record.js';
import { randomArray } from '../../src/util/random.js';

interface LayerCase {
  kernel: KernelId;
  shape: string;
  /** Host inputs by argument name; every Buf argument is listed (outputs too, with initial contents). */
  bufs: Record<string, Float32Array>;
  scalars: Record<string, unknown>;
  /** Argument names whose results are compared with the reference. */
  outputs: string[];
  /** Bytes the kernel must read + write at least (for GB/s). */
  bytes: number;
}

function random(length: number, seed: number, offset = 0): Float32Array {
  const out = randomArray(length, seed);
  if (offset) for (let i = 0; i < length; i++) out[i] += offset;
  return out;
}
const zeros = (n: number) => new Float32Array(n);

/** CIFAR VGG activations at batch 32: [n, h, w, c]. */
const ACTS: [number, number, number, number][] = [[32, 32, 32, 64], [32, 16, 16, 128], [32, 8, 8, 256]];
const actId = ([n, h, w, c]: number[]) => `${n}x${h}x${w}x${c}`;

function cases(quick: boolean): LayerCase[] {
  const out: LayerCase[] = [];
  const acts = quick ? [ACTS[0]] : ACTS;
  for (const a of acts) {
    const [n, h, w, c] = a, len = n * h * w * c, olen = len / 4, rows = n * h * w, id = actId(a);
    const x = random(len, len), cv = random(c, c);
    out.push({ kernel: 'maxpool2x2_forward', shape: id, bufs: { x, y: zeros(olen) }, scalars: { n, h, w, c }, outputs: ['y'], bytes: 4 * (len + olen) });
    out.push({ kernel: 'relu_forward', shape: id, bufs: { x, y: zeros(len) }, scalars: { length: len }, outputs: ['y'], bytes: 8 * len });
    out.push({ kernel: 'batchnorm_forward_train', shape: id, bufs: { x, y: zeros(len), gamma: cv, beta: cv, saveMean: zeros(c),
      saveInvstd: zeros(c), runMean: zeros(c), runVar: zeros(c).fill(1) }, scalars: { rows, c, momentum: 0.1, eps: 1e-5 },
    outputs: ['y', 'saveMean', 'saveInvstd'], bytes: 8 * len });
    out.push({ kernel: 'batchnorm_backward', shape: id, bufs: { x, dy: random(len, 3), gamma: cv, saveMean: random(c, 4, 0), saveInvstd: zeros(c).fill(1.5),
      dx: zeros(len), dgamma: zeros(c), dbeta: zeros(c) }, scalars: { rows, c, accumulate: 0 }, outputs: ['dx', 'dgamma', 'dbeta'], bytes: 12 * len });
    if (quick) continue;
    // The im2col path's own kernels, for the 3x3 pad-1 conv that reads this activation (col: [n*h*w, 9c]).
    const shape = { n, h, w, cin: c, cout: c, kh: 3, kw: 3, stride: 1, pad: 1 }, clen = rows * 9 * c;
    out.push({ kernel: 'im2col', shape: id, bufs: { x, col: zeros(clen) }, scalars: { shape }, outputs: ['col'], bytes: 4 * (len + clen) });
    out.push({ kernel: 'col2im', shape: id, bufs: { col: random(clen, 24), x: zeros(len) }, scalars: { shape }, outputs: ['x'], bytes: 4 * (clen + len) });
    out.push({ kernel: 'maxpool2x2_backward', shape: id, bufs: { x, dy: random(olen, 5), dx: zeros(len) }, scalars: { n, h, w, c }, outputs: ['dx'], bytes: 4 * (2 * len + olen) });
    out.push({ kernel: 'relu_backward', shape: id, bufs: { y: x, dy: random(len, 6), dx: zeros(len) }, scalars: { length: len }, outputs: ['dx'], bytes: 12 * len });
    out.push({ kernel: 'bias_add', shape: id, bufs: { y: x, bias: cv }, scalars: { rows, cols: c }, outputs: ['y'], bytes: 8 * len });
    out.push({ kernel: 'bias_backward', shape: id, bufs: { dy: x, db: zeros(c) }, scalars: { rows, cols: c, beta: 0 }, outputs: ['db'], bytes: 4 * len });
    out.push({ kernel: 'batchnorm_forward_eval', shape: id, bufs: { x, y: zeros(len), gamma: cv, beta: cv, runMean: cv, runVar: zeros(c).fill(1) },
      scalars: { rows, c, eps: 1e-5 }, outputs: ['y'], bytes: 8 * len });
  }
  // LRN with AlexNet's constants on the first CIFAR activation (config A-LRN puts it after conv1)
  {
    const a = ACTS[0], len = a[0] * a[1] * a[2] * a[3], rows = len / a[3], c = a[3];
    const p = { rows, c, size: 5, alpha: 1e-4, beta: 0.75, k: 2 };
    const x = random(len, 9);
    out.push({ kernel: 'lrn_forward', shape: actId(a), bufs: { x, y: zeros(len), scale: zeros(len) }, scalars: p, outputs: ['y', 'scale'], bytes: 12 * len });
    if (!quick) {
      const ref = new ReferenceBackend();
      const [xb, yb, sb] = [x, zeros(len), zeros(len)].map((d) => { const b = ref.alloc(len); ref.write(b, d); return b; });
      ref.run('lrn_forward', { x: xb, y: yb, scale: sb, ...p });
      const y = ref.data(yb), scale = ref.data(sb);
      out.push({ kernel: 'lrn_backward', shape: actId(a), bufs: { x, y, scale, dy: random(len, 10), dx: zeros(len) }, scalars: p, outputs: ['dx'], bytes: 20 * len });
    }
  }
  // Classifier: batch 64 FC 4096 (dropout, bias), softmax over 10 and 1000 classes
  const fc = 64 * 4096;
  out.push({ kernel: 'dropout_forward', shape: '64x4096', bufs: { x: random(fc, 11), y: zeros(fc), mask: zeros(fc) }, scalars: { length: fc, p: 0.5, seed: 1234 },
    outputs: ['y', 'mask'], bytes: 12 * fc });
  for (const classes of quick ? [1000] : [10, 1000]) {
    const n = 64, len = n * classes;
    const labels = Float32Array.from({ length: n }, (_, i) => (i * 37) % classes);
    out.push({ kernel: 'softmax_xent_forward', shape: `64x${classes}`, bufs: { logits: random(len, 12), labels, probs: zeros(len), loss: zeros(n) },
      scalars: { n, classes, smoothing: 0.1 }, outputs: ['probs', 'loss'], bytes: 8 * len });
    if (!quick) {
      out.push({ kernel: 'softmax_xent_backward', shape: `64x${classes}`, bufs: { probs: random(len, 13, 1), labels, dlogits: zeros(len) },
        scalars: { n, classes, smoothing: 0.1, scale: 1 / n }, outputs: ['dlogits'], bytes: 8 * len });
    }
  }
  // Parameter-sized updates: a 3x3 512->512 conv weight (2.36M)
  const pl = 3 * 3 * 512 * 512;
  out.push({ kernel: 'sgd_update', shape: `${pl}`, bufs: { w: random(pl, 14), g: random(pl, 15), v: zeros(pl) },
    scalars: { length: pl, lr: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: false }, outputs: ['w', 'v'], bytes: 20 * pl });
  if (!quick) {
    out.push({ kernel: 'dropout_backward', shape: '64x4096', bufs: { dy: random(fc, 16), mask: random(fc, 17), dx: zeros(fc) }, scalars: { length: fc },
      outputs: ['dx'], bytes: 12 * fc });
    out.push({ kernel: 'bias_add', shape: '64x4096', bufs: { y: random(fc, 18), bias: random(4096, 19) }, scalars: { rows: 64, cols: 4096 }, outputs: ['y'], bytes: 8 * fc });
    out.push({ kernel: 'bias_backward', shape: '64x4096', bufs: { dy: random(fc, 20), db: zeros(4096) }, scalars: { rows: 64, cols: 4096, beta: 0 }, outputs: ['db'], bytes: 4 * fc });
    out.push({ kernel: 'axpby', shape: `${pl}`, bufs: { x: random(pl, 21), y: random(pl, 22) }, scalars: { length: pl, alpha: 0.5, beta: 0.9 }, outputs: ['y'], bytes: 12 * pl });
    out.push({ kernel: 'fill', shape: `${pl}`, bufs: { x: zeros(pl) }, scalars: { length: pl, value: 0 }, outputs: ['x'], bytes: 4 * pl });
    out.push({ kernel: 'reduce_sum', shape: `${pl}`, bufs: { x: random(pl, 23), out: zeros(1) }, scalars: { length: pl }, outputs: ['out'], bytes: 4 * pl });
  }
  return out;
}

function upload(be: Backend, bufs: Record<string, Float32Array>): Record<string, Buf> {
  const out: Record<string, Buf> = {};
  for (const [k, v] of Object.entries(bufs)) { out[k] = be.alloc(v.length); be.write(out[k], v); }
  return out;
}

/** Max |got - ref| / max(|ref|, 1) over the case's outputs after one run from the initial contents. */
async function checkAgainstReference(be: Backend, c: LayerCase): Promise<number> {
  const ref = new ReferenceBackend();
  const rb = upload(ref, c.bufs), gb = upload(be, c.bufs);
  try {
    ref.run(c.kernel, { ...c.scalars, ...rb } as unknown as KernelArgs[typeof c.kernel]);
    be.run(c.kernel, { ...c.scalars, ...gb } as unknown as KernelArgs[typeof c.kernel]);
    await be.sync();
    let err = 0;
    for (const name of c.outputs) {
      const want = ref.data(rb[name]), got = await be.read(gb[name]);
      let d = 0, s = 1;
      for (let i = 0; i < want.length; i++) { s = Math.max(s, Math.abs(want[i])); d = Math.max(d, Math.abs(got[i] - want[i])); }
      err = Math.max(err, Number.isNaN(d) ? Infinity : d / s);
    }
    return err;
  } finally {
    for (const b of Object.values(gb)) be.free(b);
  }
}

export const layersSuite: Suite = {
  name: 'layers',
  async run(ctx: SuiteContext): Promise<BenchRecord[]> {
    const records: BenchRecord[] = [];
    const list = cases(ctx.quick).filter((c) => selected(ctx.filter, { kernel: c.kernel, shape: c.shape }));
    for (const bb of ctx.backends) {
      for (const c of list) {
        // The check is the kernel's first call: pipeline compilation happens there.
        const c0 = compileMsSoFar(bb.backend);
        const maxRelErr = await checkAgainstReference(bb.backend, c);
        const compileMs = c0 !== undefined ? compileMsSoFar(bb.backend)! - c0 : undefined;
        // Kernels that update in place (bias_add, sgd_update, axpby) drift over repeats; timing is unaffected.
        const bufs = upload(bb.backend, c.bufs);
        const args = { ...c.scalars, ...bufs } as unknown as KernelArgs[typeof c.kernel];
        try {
          const m = await measureKernel(bb.backend, () => { bb.backend.run(c.kernel, args); },
            { minSamples: 5, maxSamples: ctx.quick ? 20 : 40, maxMs: ctx.quick ? 150 : 300 });
          const gbps = c.bytes / (m.medianMs * 1e6);
          records.push({
            suite: 'layers', kernel: c.kernel, shape: c.shape, backend: bb.backend.name, algo: bb.algoTag ?? bb.backend.description,
            threads: bb.threads, median_ms: m.medianMs, gflops: 0, max_rel_err: maxRelErr, warmup_ms: m.firstMs,
            ...(compileMs !== undefined ? { compile_ms: compileMs } : {}),
            extra: { gb_per_s: Number(gbps.toFixed(2)), bytes: c.bytes, description: bb.backend.description, label: bb.label,
              ...measuredExtra(m) },
          });
          ctx.log(`layers ${c.kernel.padEnd(24)} ${c.shape.padEnd(14)} ${bb.label.padEnd(16)} ${m.medianMs.toFixed(3).padStart(8)} ms ` +
            `${gbps.toFixed(1).padStart(6)} GB/s  err ${maxRelErr.toExponential(1)}`);
        } finally {
          for (const b of Object.values(bufs)) bb.backend.free(b);
        }
      }
    }
    return records;
  },
};
