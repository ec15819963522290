// WebGPU infrastructure: pipeline cache, compile errors with WGSL lines, buffer pool counters, read/write
// round trips, device loss, compat limits, clean dispose (on every WebGPU backend the machine has).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { DeviceLostError } from '../../src/backends/webgpu/device.js';
import { spawnSync } from 'node:child_process';
import { randomArray, reference, upload, maxRelErr } from '../backends.js';
import { u32 } from '../../src/backends/webgpu/context.js';
import { sizeClass } from '../../src/backends/webgpu/buffers.js';

const required = process.env.CI === 'true' || process.env.VGGRT_REQUIRE_WEBGPU === '1';
const configs = [
  { label: 'core', opts: { featureLevel: 'core' as const } },
  { label: 'compat', opts: { featureLevel: 'compat' as const, dawnOptions: ['backend=opengl'] } },
];

async function make(opts: (typeof configs)[number]['opts']): Promise<WebGpuBackend | undefined> {
  try {
    return await WebGpuBackend.create(opts);
  } catch (e) {
    if (required) throw e;
    console.warn(`\n!!! WebGPU infrastructure NOT TESTED: ${(e as Error).message}\n`);
    return undefined;
  }
}

for (const { label, opts } of configs) {
  // One backend per configuration for the tests that leave it usable (device creation and lavapipe's
  // pipeline JIT cost seconds); `own` tests (device loss) get a fresh one.
  let shared: Promise<WebGpuBackend | undefined> | undefined;
  const t = (name: string, fn: (be: WebGpuBackend) => Promise<void>, own = false) => test(`${label}: ${name}`, async () => {
    const be = own ? await make(opts) : await (shared ??= make(opts));
    if (!be) return;
    try { await fn(be); } finally { if (own) await be.dispose(); }
  });
  test.after(async () => { await (await shared)?.dispose(); });

  t('write/read round trip, odd lengths and offsets', async (be) => {
    for (const len of [0, 1, 3, 5, 17, 1001]) {
      const data = randomArray(len, len + 1);
      const b = upload(be, data);
      assert.equal(Array.from(await be.read(b)), Array.from(data), `length ${len}`);
      if (len >= 3) {
        be.write(b, new Float32Array([7, 8]), 1);
        const part = await be.read(b, 1, 2);
        assert.equal(Array.from(part), [7, 8]);
        if (len > 3) assert.is((await be.read(b, len - 1, 1))[0], data[len - 1]);
      }
      be.free(b);
    }
    const shared = new Float32Array(new SharedArrayBuffer(64)).fill(7); // e.g. a view of wasm memory
    const s = be.alloc(5);
    be.write(s, shared.subarray(2, 7));
    assert.equal(Array.from(await be.read(s)), [7, 7, 7, 7, 7]);
    const b = be.alloc(3);
    assert.throws(() => be.write(b, new Float32Array(4)), /do not fit/);
    await assert.not.throws(() => be.read(b, 2, 2).catch(() => undefined));
  });

  t('fill and gemm against the reference', async (be) => {
    const x = be.alloc(37);
    be.run('fill', { x, length: 35, value: 2.5 });
    const got = await be.read(x);
    for (let i = 0; i < 37; i++) assert.is(got[i], i < 35 ? 2.5 : 0, `fill element ${i}`);
    const [m, n, k] = [37, 29, 45];
    const A = randomArray(m * k, 1), B = randomArray(k * n, 2), C = randomArray(m * n, 3), bias = randomArray(n, 4);
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const args = { m, n, k, transA, transB, alpha: 0.75, beta: 0.5, relu: true };
      const ra = upload(reference, A), rb = upload(reference, B), rc = upload(reference, C), rbias = upload(reference, bias);
      reference.run('gemm', { a: ra, b: rb, c: rc, bias: rbias, ...args });
      const ga = upload(be, A), gb = upload(be, B), gc = upload(be, C), gbias = upload(be, bias);
      be.run('gemm', { a: ga, b: gb, c: gc, bias: gbias, ...args });
      const err = maxRelErr(await be.read(gc), await reference.read(rc));
      assert.ok(err < 1e-5, `gemm transA=${transA} transB=${transB}: rel err ${err}`);
    }
  });

  t('pipeline cache: one pipeline per shader + entry point + constants', async (be) => {
    const x = be.alloc(64);
    be.run('fill', { x, length: 64, value: 1 });
    const before = be.stats();
    for (let i = 0; i < 5; i++) be.run('fill', { x, length: 64, value: i });
    await be.sync();
    const after = be.stats();
    assert.is(after.pipelines, before.pipelines, 'no new pipeline for the same kernel');
    assert.is(after.pipelineHits - before.pipelineHits, 5);
    assert.is((await be.read(x))[0], 4);
    be.ctx.dispatch({ shader: 'optim', entryPoint: 'optim_fill_f32', constants: { WG: 32 }, buffers: [x],
      uniforms: [u32(64), { t: 'f32', v: 3 }], workgroups: [2] });
    assert.is(be.stats().pipelines, after.pipelines + 1, 'other constants make another pipeline');
    assert.is((await be.read(x))[63], 3);
  });

  t('a broken WGSL source is reported with its shader id and line', async (be) => {
    be.shaders.set('broken_test', [
      '@group(0) @binding(0) var<storage, read_write> x: array<f32>;',
      '@compute @workgroup_size(1)',
      'fn main() {',
      '  x[0] = undefined_name + 1.0;',
      '}',
    ].join('\n'));
    const x = be.alloc(4);
    let err: Error | undefined;
    try {
      be.ctx.dispatch({ shader: 'broken_test', entryPoint: 'main', buffers: [x], workgroups: [1] });
      await be.sync();
    } catch (e) { err = e as Error; }
    assert.ok(err, 'the compile error surfaced');
    assert.match(err!.message, /broken_test\.wgsl:4:/);
    assert.match(err!.message, /undefined_name \+ 1\.0/);
    // Later uses fail at once, synchronously, with the same message.
    assert.throws(() => be.ctx.dispatch({ shader: 'broken_test', entryPoint: 'main', buffers: [x], workgroups: [1] }), /broken_test\.wgsl:4:/);
    // The error is reported once; other kernels keep working.
    await be.sync();
    be.run('fill', { x, length: 4, value: 3 });
    assert.is((await be.read(x))[0], 3);
  });

  t('a binding the entry point does not declare is a validation error naming the entry point', async (be) => {
    const x = be.alloc(4), extra = be.alloc(4);
    be.ctx.dispatch({ shader: 'optim', entryPoint: 'optim_fill_f32', buffers: [x, extra], uniforms: [u32(4), { t: 'f32', v: 1 }], workgroups: [1] });
    let err: Error | undefined;
    try { await be.sync(); } catch (e) { err = e as Error; }
    assert.ok(err, 'the validation error surfaced at sync');
    assert.match(err!.message, /validation error/);
    assert.match(err!.message, /optim_fill_f32/);
    be.run('fill', { x, length: 4, value: 6 }); // the backend stays usable
    assert.is((await be.read(x))[3], 6);
  });

  t('buffer pool: byte counters, reuse by size class, no growth in steady state', async (be) => {
    const m0 = be.memory();
    const a = be.alloc(1000), b = be.alloc(10);
    assert.is(be.memory().liveBytes - m0.liveBytes, 4040);
    assert.ok(be.memory().peakBytes >= m0.liveBytes + 4040);
    assert.ok(be.memory().reservedBytes >= be.memory().liveBytes, 'reserved covers live');
    be.free(a); be.free(b);
    assert.is(be.memory().liveBytes, m0.liveBytes);
    let created = 0, reserved = 0;
    for (let step = 0; step < 4; step++) {
      if (step === 1) { created = be.stats().buffersCreated; reserved = be.memory().reservedBytes; } // staging made in step 0
      const c = be.alloc(1000), d = be.alloc(10);
      be.write(c, randomArray(1000, step));
      be.run('relu_forward', { x: c, y: c, length: 1000 });
      assert.ok((await be.read(c)).every((v) => v >= 0));
      assert.is((await be.read(d))[3], 0, 'a recycled buffer starts zeroed');
      be.write(d, new Float32Array(10).fill(5));
      be.free(c); be.free(d);
    }
    assert.is(be.stats().buffersCreated, created, 'steady state creates no GPU buffers');
    assert.is(be.memory().reservedBytes, reserved);
    assert.is(sizeClass(1), 256);
    assert.is(sizeClass(4000), 4096);
    assert.ok(sizeClass(5000) >= 5000 && sizeClass(5000) <= 5000 * 1.25);
  });

  t('device limits: compat fits 4 storage buffers and 128 invocations', async (be) => {
    if (label === 'compat') {
      assert.ok(be.compat);
      assert.ok(be.ctx.maxStorageBuffers <= 4);
      assert.ok(be.ctx.maxInvocations <= 128);
      assert.match(be.description, /compat/);
    } else {
      assert.ok(!be.compat);
      assert.match(be.description, /core/);
    }
    const bufs = Array.from({ length: be.ctx.maxStorageBuffers + 1 }, () => be.alloc(4));
    assert.throws(() => be.ctx.dispatch({ shader: 'optim', entryPoint: 'optim_fill_f32', buffers: bufs, workgroups: [1] }),
      /storage buffers/);
  });

  t('timeGpu: timestamp queries where the adapter has them, else submit-to-completion', async (be) => {
    const x = be.alloc(4096);
    const r = await be.timeGpu(() => { for (let i = 0; i < 3; i++) be.run('fill', { x, length: 4096, value: i }); });
    assert.is(r.source, be.hasTimestamps ? 'timestamp' : 'wall');
    assert.ok(r.ms > 0 && r.ms < 10000, `${r.ms} ms`);
    assert.is((await be.read(x, 4095, 1))[0], 2);
    // More compute passes than the query set can time (a copy ends each pass): a partial sum would
    // under-count, so the result falls back to submit-to-completion.
    const y = be.alloc(16), passes = 2100;
    const many = await be.timeGpu(() => {
      for (let i = 0; i < passes; i++) { be.run('fill', { x: y, length: 16, value: i }); be.ctx.copy(y, 0, x, i % 4096, 1); }
    });
    assert.is(many.source, 'wall');
    assert.is((await be.read(x, (passes - 1) % 4096, 1))[0], passes - 1);
  });

  t('device loss surfaces as DeviceLostError', async (be) => {
    const x = be.alloc(4);
    be.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.instance(be.lost, DeviceLostError);
    assert.throws(() => be.run('fill', { x, length: 4, value: 1 }), (e: Error) => e instanceof DeviceLostError);
    let err: unknown;
    try { await be.read(x); } catch (e) { err = e; }
    assert.instance(err, DeviceLostError);
  }, true);
}

test('dispose leaves nothing that keeps Node running', () => {
  const url = new URL('../../src/backends/webgpu/backend.js', import.meta.url).href;
  const script = `const { WebGpuBackend } = await import(${JSON.stringify(url)});
    for (const o of [{ featureLevel: 'core' }, { featureLevel: 'compat', dawnOptions: ['backend=opengl'] }]) {
      let be; try { be = await WebGpuBackend.create(o); } catch { continue; }
      const x = be.alloc(8); be.run('fill', { x, length: 8, value: 2 }); await be.read(x); await be.dispose();
    }
    console.log('done');`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 30000, encoding: 'utf8' });
  assert.is(r.signal, null, `child still running after ${Date.now() - t0} ms: ${r.stderr}`);
  assert.match(r.stdout, /done/);
});

test.run();
