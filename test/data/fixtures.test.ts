// The PyTorch golden fixtures are well-formed: safetensors headers list every expected tensor with the
// right shape and dtype, the data is laid out exactly, and loss and the SGD step agree with their inputs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

// Compiled to dist/test/data/: the fixtures stay in the source tree.
const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, '..', '..', '..', 'test', 'fixtures', 'golden');

interface Entry { dtype: string; shape: number[]; data_offsets: [number, number] }
interface Meta {
  cfg: (number | 'M')[]; batchNorm: boolean; inputSize: number; inChannels: number; numClasses: number;
  classifierWidth: number; dropout: number; batch: number; lr: number; momentum: number; weightDecay: number;
  nesterov: boolean; torch: string;
}

/** Minimal safetensors reader: u64 LE header length, JSON header, data. */
function readSafetensors(path: string): { header: Record<string, Entry>; meta?: Record<string, string>; data: Uint8Array; dataStart: number } {
  const bytes = new Uint8Array(readFileSync(path));
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.ok(n > 0 && 8 + n <= bytes.length, `${path}: header length ${n}`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, Entry> & { __metadata__?: Record<string, string> };
  const meta = header.__metadata__;
  delete header.__metadata__;
  return { header, meta, data: bytes.subarray(8 + n), dataStart: 8 + n };
}

function f32(file: ReturnType<typeof readSafetensors>, name: string): Float32Array {
  const e = file.header[name];
  assert.ok(e && e.dtype === 'F32', `${name} is F32`);
  return new Float32Array(file.data.slice(e.data_offsets[0], e.data_offsets[1]).buffer);
}

/** The tensors the fixture must hold, derived from its JSON exactly as torchvision names them. */
function expectedTensors(m: Meta): Map<string, [string, number[]]> {
  const state = new Map<string, [string, number[]]>();
  const params: string[] = [];
  let idx = 0, c = m.inChannels, pools = 0;
  for (const v of m.cfg) {
    if (v === 'M') { idx++; pools++; continue; }
    state.set(`features.${idx}.weight`, ['F32', [v, c, 3, 3]]);
    state.set(`features.${idx}.bias`, ['F32', [v]]);
    params.push(`features.${idx}.weight`, `features.${idx}.bias`);
    if (m.batchNorm) {
      for (const s of ['weight', 'bias', 'running_mean', 'running_var']) state.set(`features.${idx + 1}.${s}`, ['F32', [v]]);
      state.set(`features.${idx + 1}.num_batches_tracked`, ['I64', []]);
      params.push(`features.${idx + 1}.weight`, `features.${idx + 1}.bias`);
    }
    idx += m.batchNorm ? 3 : 2;
    c = v;
  }
  const side = m.inputSize >> pools, W = m.classifierWidth;
  const fcs: [number, number, number][] = [[0, W, c * side * side], [3, W, W], [6, m.numClasses, W]];
  for (const [i, out, inp] of fcs) {
    state.set(`classifier.${i}.weight`, ['F32', [out, inp]]);
    state.set(`classifier.${i}.bias`, ['F32', [out]]);
    params.push(`classifier.${i}.weight`, `classifier.${i}.bias`);
  }
  const all = new Map(state);
  all.set('input', ['F32', [m.batch, m.inChannels, m.inputSize, m.inputSize]]);
  all.set('target', ['I64', [m.batch]]);
  all.set('features', ['F32', [m.batch, c, side, side]]);
  all.set('logits', ['F32', [m.batch, m.numClasses]]);
  all.set('loss', ['F32', []]);
  for (const p of params) all.set(`grad.${p}`, state.get(p)!);
  for (const [k, [dtype, shape]] of state) if (dtype === 'F32') all.set(`after.${k}`, [dtype, shape]);
  return all;
}

for (const variant of ['plain', 'bn']) {
  test(`${variant}: JSON describes the small VGG and the SGD settings`, () => {
    const m = JSON.parse(readFileSync(join(GOLDEN, `${variant}.json`), 'utf8')) as Meta;
    assert.equal(m.cfg, [8, 'M', 16, 'M', 32, 32, 'M']);
    assert.is(m.batchNorm, variant === 'bn');
    assert.equal([m.inputSize, m.inChannels, m.numClasses, m.classifierWidth, m.dropout, m.batch], [32, 3, 10, 64, 0, 4]);
    assert.equal([m.lr, m.momentum, m.weightDecay, m.nesterov], [0.01, 0.9, 0.0005, false]);
    assert.match(m.torch, /^1\.13/);
  });

  test(`${variant}: every expected tensor, right dtype and shape, contiguous aligned data`, () => {
    const m = JSON.parse(readFileSync(join(GOLDEN, `${variant}.json`), 'utf8')) as Meta;
    const file = readSafetensors(join(GOLDEN, `${variant}.safetensors`));
    const want = expectedTensors(m);
    assert.equal(Object.keys(file.header).sort(), [...want.keys()].sort());
    for (const [name, [dtype, shape]] of want) {
      assert.is(file.header[name].dtype, dtype, `${name} dtype`);
      assert.equal(file.header[name].shape, shape, `${name} shape`);
    }
    assert.is(file.dataStart % 8, 0, 'data section 8-byte aligned');
    const spans = Object.entries(file.header).map(([name, e]) => ({ name, e })).sort((a, b) => a.e.data_offsets[0] - b.e.data_offsets[0]);
    let at = 0;
    for (const { name, e } of spans) {
      const elems = e.shape.reduce((a, b) => a * b, 1), size = e.dtype === 'I64' ? 8 : 4;
      assert.equal(e.data_offsets, [at, at + elems * size], `${name} offsets`);
      assert.is(at % size, 0, `${name} aligned`);
      at += elems * size;
    }
    assert.is(at, file.data.length, 'no bytes after the last tensor');
    assert.is(file.meta?.generator, 'test/fixtures/make_golden.py');
  });

  test(`${variant}: loss is the mean cross-entropy of the logits, and after = one SGD step`, () => {
    const m = JSON.parse(readFileSync(join(GOLDEN, `${variant}.json`), 'utf8')) as Meta;
    const file = readSafetensors(join(GOLDEN, `${variant}.safetensors`));
    const logits = f32(file, 'logits'), loss = f32(file, 'loss')[0];
    const t = file.header.target;
    const target = new BigInt64Array(file.data.slice(t.data_offsets[0], t.data_offsets[1]).buffer);
    let sum = 0;
    for (let i = 0; i < m.batch; i++) {
      const row = logits.subarray(i * m.numClasses, (i + 1) * m.numClasses);
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
      assert.ok(target[i] >= 0n && target[i] < BigInt(m.numClasses));
      sum += lse - row[Number(target[i])];
    }
    assert.ok(Math.abs(sum / m.batch - loss) < 1e-5 * Math.abs(loss), `loss ${loss} vs ${sum / m.batch}`);
    assert.ok(Math.abs(loss) > 0.5 && Number.isFinite(loss));
    // First step of torch SGD: buf = g + wd*w, w' = w - lr*buf (momentum does not act yet).
    const grads = Object.keys(file.header).filter((k) => k.startsWith('grad.'));
    for (const g of grads) {
      const p = g.slice(5), w = f32(file, p), dw = f32(file, g), after = f32(file, `after.${p}`);
      for (let i = 0; i < w.length; i++) {
        // Two float32 roundings (buf, then w'): a few ulps. The weight-decay term alone is 5e-6 |w|.
        const buf = dw[i] + m.weightDecay * w[i], want = w[i] - m.lr * buf;
        const tol = 2.5e-7 * (Math.abs(w[i]) + m.lr * Math.abs(buf)) + 1e-12;
        if (Math.abs(after[i] - want) > tol) assert.unreachable(`${p}[${i}]: ${after[i]} vs ${want}`);
      }
    }
    if (m.batchNorm) {
      const nbt = file.header['features.1.num_batches_tracked'];
      assert.is(new BigInt64Array(file.data.slice(nbt.data_offsets[0], nbt.data_offsets[1]).buffer)[0], 7n);
      const before = f32(file, 'features.1.running_var'), after = f32(file, 'after.features.1.running_var');
      assert.ok(before.some((v, i) => v !== after[i]), 'running stats moved with the training-mode forward');
    }
  });
}

test.run();
