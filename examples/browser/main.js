// The example page's script: runs vggrt kernels on every backend the browser offers, compares each with
// the reference backend, trains a tiny VGG for a few steps, and publishes a JSON result.
import * as vggrt from '../../dist/src/browser.js';

const logEl = document.getElementById('log');
const log = (msg) => { logEl.textContent += `${msg}\n`; console.log(msg); };

/** Deterministic floats in [-1, 1) (xorshift), so every backend sees the same inputs. */
function randomArray(length, seed) {
  const out = new Float32Array(length);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

/** max |a - b| over max(1, max |b|): the error measure of the kernel tests (test/backends.ts). */
function maxRelErr(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let scale = 1, m = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m / scale;
}

function upload(be, data) { const b = be.alloc(data.length); be.write(b, data); return b; }

/** Runs one kernel on `be` and on the reference with the same inputs; returns the max relative error of `out`. */
async function compare(be, ref, kernel, inputs, outLength, makeArgs) {
  const run = async (backend) => {
    const bufs = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, upload(backend, v)]));
    const out = backend.alloc(outLength);
    backend.run(kernel, makeArgs(bufs, out));
    const host = await backend.read(out);
    for (const b of [...Object.values(bufs), out]) backend.free(b);
    return host;
  };
  const [got, want] = [await run(be), await run(ref)];
  return maxRelErr(got, want);
}

async function kernelChecks(be, ref) {
  const out = {};
  // GEMM big enough that the wasm operator splits it over both threads (odd sizes exercise the edges).
  const [m, n, k] = [131, 97, 203];
  out.gemm = await compare(be, ref, 'gemm', { a: randomArray(m * k, 1), b: randomArray(k * n, 2), bias: randomArray(n, 3) }, m * n,
    (b, c) => ({ a: b.a, b: b.b, c, m, n, k, transA: false, transB: false, alpha: 1, beta: 0, bias: b.bias, relu: true }));
  out.gemmTransposed = await compare(be, ref, 'gemm', { a: randomArray(k * m, 4), b: randomArray(n * k, 5) }, m * n,
    (b, c) => ({ a: b.a, b: b.b, c, m, n, k, transA: true, transB: true, alpha: 0.5, beta: 0 }));
  const shape = { n: 2, h: 12, w: 12, cin: 16, cout: 24, kh: 3, kw: 3, stride: 1, pad: 1 };
  const xLen = shape.n * shape.h * shape.w * shape.cin, wLen = 9 * shape.cin * shape.cout;
  const yLen = shape.n * shape.h * shape.w * shape.cout;
  out.conv = {};
  for (const algo of ['im2col_gemm', 'winograd_f2x2', 'winograd_f4x4']) {
    out.conv[algo] = await compare(be, ref, 'conv2d_forward', { x: randomArray(xLen, 6), w: randomArray(wLen, 7), bias: randomArray(shape.cout, 8) },
      yLen, (b, y) => ({ x: b.x, w: b.w, bias: b.bias, y, shape, algo, relu: false }));
  }
  return out;
}

/** A few SGD steps of a tiny VGG on one fixed random batch: returns the loss after each step. */
async function train(be, steps = 6) {
  const spec = vggrt.vggSpec({ config: [8, 'M', 16, 'M'], inputSize: 8, inChannels: 3, numClasses: 4, classifierWidth: 32, dropout: 0 });
  const model = new vggrt.Model(spec, vggrt.singleBackendPlan(be));
  vggrt.initModel(model, 'glorot', new vggrt.Rng(7));
  const opt = new vggrt.SGD(model.params(), { lr: 0.1, momentum: 0.9, weightDecay: 0 });
  const batch = 8;
  const x = randomArray(batch * model.inputSize, 11);
  const labels = Float32Array.from({ length: batch }, (_, i) => i % 4);
  const losses = [];
  for (let s = 0; s < steps; s++) {
    await model.forward(x, batch, true, s);
    losses.push(await model.lossForward(labels, batch));
    await model.backward(batch);
    opt.step(0.1);
  }
  await model.sync();
  opt.dispose();
  model.dispose();
  return { model: spec.label, params: vggrt.paramCount(spec), losses };
}

async function checkBackend(label, be, ref, refTraining) {
  const r = { backend: be.description };
  const t0 = performance.now();
  r.maxRelErr = await kernelChecks(be, ref);
  r.kernelMs = Math.round(performance.now() - t0);
  try {
    const t1 = performance.now();
    r.training = await train(be);
    r.trainMs = Math.round(performance.now() - t1);
    r.training.maxLossDiffVsReference = Math.max(...r.training.losses.map((l, i) => Math.abs(l - refTraining.losses[i])));
  } catch (e) {
    r.trainingError = String(e?.stack ?? e);
  }
  log(`${label}: ${JSON.stringify(r)}`);
  return r;
}

async function main() {
  const result = {
    crossOriginIsolated: self.crossOriginIsolated === true,
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency,
    features: { simd: vggrt.hasSimd(), relaxedSimd: vggrt.hasRelaxedSimd(), sharedMemory: vggrt.hasSharedMemory(), webgpu: 'gpu' in navigator },
    errors: [],
  };
  log(`crossOriginIsolated=${result.crossOriginIsolated} features=${JSON.stringify(result.features)}`);
  const ref = new vggrt.ReferenceBackend();
  result.reference = await train(ref);
  log(`reference training: ${JSON.stringify(result.reference)}`);

  // 'auto' takes the relaxed-SIMD build where the browser has it; the plain-SIMD build runs too, as the fallback.
  for (const [key, build] of [['wasm', 'auto'], ['wasmSimd', 'simd']]) {
    try {
      const be = await vggrt.WasmBackend.create({ threads: 2, memoryMiB: 256, build, wasmBaseUrl: new URL('../../build/', import.meta.url) });
      // Count calls that really went to the worker too (the main thread would spin forever if the worker never answered).
      let multiThreadCalls = 0;
      const parallel = be.pool.parallel.bind(be.pool);
      be.pool.parallel = (name, argsPerThread) => { if (argsPerThread.length > 1) multiThreadCalls++; parallel(name, argsPerThread); };
      result[key] = { build: be.build, threads: be.threads, ...(await checkBackend(key, be, ref, result.reference)), multiThreadCalls };
      await be.dispose();
    } catch (e) {
      result.errors.push(`${key}: ${e?.stack ?? e}`);
      log(`${key} failed: ${e?.stack ?? e}`);
    }
  }

  if ('gpu' in navigator) {
    try {
      const be = await vggrt.WebGpuBackend.create({ shaderBaseUrl: new URL('../../shaders/', import.meta.url) });
      result.webgpu = { compat: be.compat, ...(await checkBackend('webgpu', be, ref, result.reference)) };
      await be.dispose();
    } catch (e) {
      result.errors.push(`webgpu: ${e?.stack ?? e}`);
      log(`webgpu failed: ${e?.stack ?? e}`);
    }
  }
  return result;
}

const status = document.getElementById('status');
let result;
try {
  result = await main();
} catch (e) {
  result = { errors: [`page: ${e?.stack ?? e}`] };
}
document.getElementById('result').textContent = JSON.stringify(result, null, 2);
status.textContent = result.errors.length ? `finished with ${result.errors.length} error(s)` : 'finished';
status.className = result.errors.length ? 'bad' : 'ok';
window.__vggrtResult = result;
