// Checkpoints: the model as a torchvision-layout safetensors state_dict, plus the training state beside it, written atomically.
//
// Layout conversions happen only here: conv weights HWIO <-> OIHW, the first Linear's input columns,
// which follow our NHWC flatten order (h, w, c), <-> torch's flatten order (c, h, w), and a folded
// repeated-input Linear (torchvision's head on a 1x1 map) <-> its k column blocks.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ActShape, Param, StateTensor } from './layers.js';
import { BatchNorm2d } from './layers.js';
import type { Model } from './model.js';
import { type SafeEntry, parseSafetensors, serializeSafetensors, type SafeTensor } from './safetensors.js';

/** HWIO [kh,kw,ci,co] -> OIHW [co,ci,kh,kw]. */
export function hwioToOihw(w: Float32Array, kh: number, kw: number, ci: number, co: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) {
    out[((o * ci + i) * kh + y) * kw + x] = w[((y * kw + x) * ci + i) * co + o];
  }
  return out;
}
export function oihwToHwio(w: Float32Array, kh: number, kw: number, ci: number, co: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) {
    out[((y * kw + x) * ci + i) * co + o] = w[((o * ci + i) * kh + y) * kw + x];
  }
  return out;
}
/** Permutes the columns of a [rows, h*w*c] matrix between (h,w,c) and torch's (c,h,w) order. */
export function permuteColumns(m: Float32Array, rows: number, s: ActShape, toTorch: boolean): Float32Array {
  const cols = s.h * s.w * s.c, out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let y = 0; y < s.h; y++) for (let x = 0; x < s.w; x++) for (let c = 0; c < s.c; c++) {
      const ours = (y * s.w + x) * s.c + c, torch = (c * s.h + y) * s.w + x;
      if (toTorch) out[base + torch] = m[base + ours]; else out[base + ours] = m[base + torch];
    }
  }
  return out;
}

/**
 * Our folded [rows, cols] weight W <-> torchvision's [rows, cols*k], whose column c*k + j (torch's flatten of
 * a C x 7 x 7 map made by repeating each channel) is block j of input c. Only the sum of the blocks is
 * defined by training (see Linear), so export puts W in block 0 and zeros in the others: exact both ways
 * (a resumed run continues bit for bit), and the same function in PyTorch. Import sums the blocks, which
 * also folds weights trained by torchvision.
 */
export function unfoldColumns(m: Float32Array, rows: number, k: number, toTorch: boolean): Float32Array {
  const cols = toTorch ? m.length / rows : m.length / rows / k;
  const out = new Float32Array(toTorch ? m.length * k : m.length / k);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (toTorch) { out[(r * cols + c) * k] = m[r * cols + c]; continue; }
      let s = 0;
      for (let j = 0; j < k; j++) s += m[(r * cols + c) * k + j];
      out[r * cols + c] = s;
    }
  }
  return out;
}

/** torchvision shape of a parameter. */
export function torchShape(p: Param): number[] {
  if (p.layout === 'hwio') return [p.shape[3], p.shape[2], p.shape[0], p.shape[1]];
  return p.repeatCols ? [p.shape[0], p.shape[1] * p.repeatCols] : p.shape;
}

/** Converts one tensor of parameter p from our layout to torchvision's (or back). */
export function convertParam(model: Model, p: Param, data: Float32Array, toTorch: boolean): Float32Array {
  if (p.layout === 'hwio') {
    const [kh, kw, ci, co] = p.shape;
    return toTorch ? hwioToOihw(data, kh, kw, ci, co) : oihwToHwio(data, kh, kw, ci, co);
  }
  if (p.repeatCols) return unfoldColumns(data, p.shape[0], p.repeatCols, toTorch);
  if (p.name === 'classifier.0.weight') {
    const s = model.spec.featureShape;
    return s.h * s.w > 1 ? permuteColumns(data, p.shape[0], s, toTorch) : data;
  }
  return data;
}

/** Reads every parameter (and optionally another per-parameter buffer set, e.g. grads) into torchvision layout. */
export async function exportParams(model: Model, pick: (p: Param, i: number) => import('../backend.js').Buf = (p) => p.buf,
  prefix = ''): Promise<SafeEntry[]> {
  const out: SafeEntry[] = [];
  const params = model.params();
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    const data = await p.backend.read(pick(p, i));
    out.push({ name: prefix + p.name, shape: torchShape(p), data: convertParam(model, p, data, true) });
  }
  return out;
}

/** The full state_dict in torchvision names and layouts (params, BN running stats, num_batches_tracked). */
export async function exportStateDict(model: Model): Promise<SafeEntry[]> {
  const entries = await exportParams(model);
  for (const l of model.layers) {
    if (!(l instanceof BatchNorm2d)) continue;
    for (const s of l.state()) entries.push({ name: s.name, shape: s.shape, data: await s.backend.read(s.buf) });
    entries.push({ name: `${l.name}.num_batches_tracked`, shape: [], data: Float32Array.of(l.numBatchesTracked), dtype: 'I64' });
  }
  return entries;
}

function check(name: string, t: SafeTensor | undefined, shape: number[], what: string): SafeTensor {
  if (!t) throw new Error(`${what}: tensor ${name} is missing`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${what}: tensor ${name} has shape [${t.shape}] but the model needs [${shape}]`);
  }
  return t;
}

/** Loads a torchvision-layout state_dict (e.g. parsed from a safetensors file) into the model. Every
 *  parameter must be present (unless `partial`: a warm start) with the right shape; all are checked before anything is written. */
export function importStateDict(model: Model, tensors: Map<string, SafeTensor>, what = 'state_dict', prefix = '', partial = false): void {
  const writes: (() => void)[] = [];
  for (const p of model.params()) {
    if (partial && !tensors.has(prefix + p.name)) continue;
    const t = check(prefix + p.name, tensors.get(prefix + p.name), torchShape(p), what);
    writes.push(() => p.backend.write(p.buf, convertParam(model, p, t.data, false)));
  }
  for (const l of model.layers) {
    if (!(l instanceof BatchNorm2d)) continue;
    for (const s of l.state() as StateTensor[]) {
      if (partial && !tensors.has(prefix + s.name)) continue;
      const t = check(prefix + s.name, tensors.get(prefix + s.name), s.shape, what);
      writes.push(() => s.backend.write(s.buf, t.data));
    }
    const nbt = tensors.get(`${prefix}${l.name}.num_batches_tracked`);
    if (nbt || !partial) writes.push(() => { l.numBatchesTracked = nbt ? nbt.data[0] : 0; });
  }
  for (const w of writes) w();
}

/** Writes bytes to path atomically: a temp file in the same directory, then rename over the target. */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}

export async function saveWeights(path: string, model: Model, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(await exportStateDict(model), { format: 'pt', ...metadata }));
}

export async function loadWeights(path: string, model: Model): Promise<void> {
  if (!existsSync(path)) throw new Error(`checkpoint ${path} does not exist`);
  importStateDict(model, parseSafetensors(new Uint8Array(await readFile(path)), path).tensors, path);
}
