// Checkpoints: safetensors round trips, torchvision layouts, atomic writes, and resume giving the identical loss curve.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import type { Dataset } from '../../src/data/dataset.js';
import { DataLoader } from '../../src/data/loader.js';
import { exportStateDict, hwioToOihw, importStateDict, oihwToHwio, permuteColumns, saveWeights, writeFileAtomic } from '../../src/nn/checkpoint.js';
import { initModel } from '../../src/nn/init.js';
import { Model, singleBackendPlan } from '../../src/nn/model.js';
import { SGD } from '../../src/nn/optim.js';
import { Rng } from '../../src/nn/rng.js';
import { parseSafetensors, serializeSafetensors } from '../../src/nn/safetensors.js';
import { LrSchedule } from '../../src/nn/schedule.js';
import { Trainer } from '../../src/nn/trainer.js';
import { vggSpec } from '../../src/nn/vgg.js';
import { reference } from '../backends.js';
import { randomInput, tinyModel } from './util.js';

test('safetensors: F32 and I64 round trip, 8-byte aligned header, clear errors on damage', () => {
  const bytes = serializeSafetensors([
    { name: 'w', shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, -6.5) },
    { name: 'n', shape: [], data: Float32Array.of(7), dtype: 'I64' },
  ], { k: 'v' });
  const hlen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is((8 + hlen) % 8, 0);
  const f = parseSafetensors(bytes);
  assert.equal(Array.from(f.tensors.get('w')!.data), [1, 2, 3, 4, 5, -6.5]);
  assert.equal(f.tensors.get('w')!.shape, [2, 3]);
  assert.is(f.tensors.get('n')!.dtype, 'I64');
  assert.is(f.tensors.get('n')!.data[0], 7);
  assert.equal(f.metadata, { k: 'v' });
  assert.throws(() => parseSafetensors(bytes.subarray(0, bytes.length - 4), 'x.safetensors'), /x\.safetensors.*truncated/);
  assert.throws(() => parseSafetensors(bytes.subarray(0, 5)), /too short/);
});

test('layout conversions are exact inverses and match torch indexing', () => {
  const w = randomInput(3 * 3 * 2 * 4, 1);
  const o = hwioToOihw(w, 3, 3, 2, 4);
  // OIHW[o=3, i=1, y=2, x=0] == HWIO[y=2, x=0, i=1, o=3]
  assert.is(o[((3 * 2 + 1) * 3 + 2) * 3 + 0], w[((2 * 3 + 0) * 2 + 1) * 4 + 3]);
  assert.equal(oihwToHwio(o, 3, 3, 2, 4), w);
  const m = randomInput(5 * 2 * 3 * 4, 2), s = { h: 2, w: 3, c: 4 };
  const t = permuteColumns(m, 5, s, true);
  // torch column (c=3, h=1, w=2) equals our column (h=1, w=2, c=3)
  assert.is(t[1 * 24 + (3 * 2 + 1) * 3 + 2], m[1 * 24 + (1 * 3 + 2) * 4 + 3]);
  assert.equal(permuteColumns(t, 5, s, false), m);
});

test('a saved state_dict loads into a fresh model and reproduces its outputs; files are written atomically', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vggrt-ckpt-'));
  try {
    const a = tinyModel(reference, { batchNorm: true, config: [3, 'M', 4, 'M'] }, 5);
    const x = randomInput(3 * a.inputSize, 9);
    await a.forward(x, 3, true, 1); // moves the BN running stats off their initial values
    await a.forward(x, 3, false);
    const la = await a.readLogits(3);
    await saveWeights(join(dir, 'm.safetensors'), a);
    await saveWeights(join(dir, 'm.safetensors'), a); // overwrite through rename
    assert.equal(readdirSync(dir), ['m.safetensors']);
    const f = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'm.safetensors'))));
    assert.equal(f.tensors.get('features.0.weight')!.shape, [3, 2, 3, 3]);
    assert.is(f.tensors.get('features.1.num_batches_tracked')!.data[0], 1);
    const b = tinyModel(reference, { batchNorm: true, config: [3, 'M', 4, 'M'] }, 6);
    importStateDict(b, f.tensors);
    await b.forward(x, 3, false);
    assert.equal(await b.readLogits(3), la);
    const bad = new Map(f.tensors);
    bad.delete('classifier.3.bias');
    assert.throws(() => importStateDict(b, bad, 'bad.safetensors'), /bad\.safetensors: tensor classifier\.3\.bias is missing/);
    await writeFileAtomic(join(dir, 'sub', 'x.txt'), 'hello');
    assert.ok(existsSync(join(dir, 'sub', 'x.txt')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('torchvision head on a 1x1 map: FC1 exports as [out, 49*in] (ours in block 0), imports exactly, sums blocks from torchvision', async () => {
  const m = tinyModel(reference, { batchNorm: true }, 4); // 4x4 input, two pools: a 1x1x4 map, FC1 of 4*49 columns
  const fc1 = m.params().find((p) => p.name === 'classifier.0.weight')!;
  assert.equal([fc1.shape, fc1.repeatCols], [[5, 4], 49]);
  const ours = await reference.read(fc1.buf);
  const sd = await exportStateDict(m);
  const t = sd.find((e) => e.name === 'classifier.0.weight')!;
  assert.equal(t.shape, [5, 4 * 49]);
  for (let r = 0; r < 5; r++) for (let c = 0; c < 4; c++) for (let j = 0; j < 49; j++) {
    assert.is(t.data[(r * 4 + c) * 49 + j], j === 0 ? ours[r * 4 + c] : 0);
  }
  const tensors = new Map(sd.map((e) => [e.name, { dtype: e.dtype ?? 'F32', shape: e.shape, data: e.data }]));
  reference.write(fc1.buf, new Float32Array(20));
  importStateDict(m, tensors);
  assert.equal(await reference.read(fc1.buf), ours);
  // Weights trained by torchvision spread over the 49 blocks: ours is their sum (the same function).
  const spread = new Float32Array(5 * 4 * 49).map((_, i) => ((i % 7) - 3) / 8);
  tensors.set('classifier.0.weight', { dtype: 'F32', shape: [5, 196], data: spread });
  importStateDict(m, tensors);
  const folded = await reference.read(fc1.buf);
  for (let rc = 0; rc < 20; rc++) {
    let s = 0;
    for (let j = 0; j < 49; j++) s += spread[rc * 49 + j];
    assert.ok(Math.abs(folded[rc] - s) < 1e-5, `column ${rc}: ${folded[rc]} vs ${s}`);
  }
  tensors.set('classifier.0.weight', { dtype: 'F32', shape: [5, 4], data: ours });
  assert.throws(() => importStateDict(m, tensors, 'x.safetensors'), /x\.safetensors: tensor classifier\.0\.weight has shape \[5,4\] but the model needs \[5,196\]/);
  m.dispose();
});

/** A synthetic 4-class dataset of 6x6x1 images whose class shows in the pixels, so loss moves. */
function synthetic(len: number): Dataset {
  return {
    name: 'synthetic', length: len, channels: 1, height: 6, width: 6, numClasses: 4,
    get(i, out, off) {
      const r = new Rng(i + 1), label = i % 4;
      for (let p = 0; p < 36; p++) out[off + p] = r.uniform() * 0.5 + (p % 4 === label ? 0.5 : 0);
      return label;
    },
  };
}

async function trainRun(be: WasmBackend, dir: string, plan: 'straight' | 'resume' | 'interrupt'): Promise<{ losses: number[]; weights: Float32Array[] }> {
  const spec = vggSpec({ config: [4, 'M', 8, 'M'], batchNorm: true, inputSize: 6, inChannels: 1, numClasses: 4, classifierWidth: 16, dropout: 0.5 });
  const losses: number[] = [];
  const make = () => {
    const m = new Model(spec, singleBackendPlan(be));
    initModel(m, 'kaiming', new Rng(3));
    const loader = new DataLoader(synthetic(40), { batchSize: 8, shuffle: true, seed: 11 });
    const opt = new SGD(m.params(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: true });
    const sched = new LrSchedule({ name: 'cosine', baseLr: 0.05, totalSteps: 10 });
    return { m, loader, opt, t: new Trainer(m, opt, sched, 42) };
  };
  let r = make();
  const onBatch = (s: { loss: number }) => { losses.push(s.loss); };
  const epoch = async (stopAfter = Infinity) => {
    let k = 0;
    const res = await r.t.trainEpoch(r.loader, { onBatch: (s) => { onBatch(s); k++; }, shouldStop: () => k >= stopAfter });
    if (!res.interrupted) r.t.endEpoch(res.metrics, undefined, 0);
    return res.interrupted;
  };
  const reopen = async () => {
    await r.t.save(dir, r.loader);
    r.opt.dispose(); r.m.dispose();
    r = make(); // fresh weights, fresh momentum, fresh loader: everything must come from the checkpoint
    await r.t.restore(dir, r.loader);
  };
  if (plan === 'straight') { await epoch(); await epoch(); }
  if (plan === 'resume') { await epoch(); await reopen(); await epoch(); }
  if (plan === 'interrupt') { assert.ok(await epoch(3)); await reopen(); await epoch(); await epoch(); }
  const weights = await Promise.all(r.m.params().map((p) => be.read(p.buf)));
  r.opt.dispose(); r.m.dispose();
  return { losses, weights };
}

test('resume: 2 epochs straight == 1 epoch + checkpoint + resume + 1 epoch (and a mid-epoch Ctrl-C), bit for bit', async () => {
  const be = await WasmBackend.create({ threads: 2, memoryMiB: 64 });
  const dir = mkdtempSync(join(tmpdir(), 'vggrt-resume-'));
  try {
    const a = await trainRun(be, dir, 'straight');
    assert.is(a.losses.length, 10);
    assert.ok(new Set(a.losses).size === 10 && a.losses.every(Number.isFinite), `losses: ${a.losses}`);
    for (const plan of ['resume', 'interrupt'] as const) {
      const b = await trainRun(be, dir, plan);
      assert.equal(b.losses, a.losses, `${plan}: loss curve differs`);
      b.weights.forEach((w, i) => assert.equal(w, a.weights[i], `${plan}: weights ${i} differ`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await be.dispose();
  }
});

test.run();
