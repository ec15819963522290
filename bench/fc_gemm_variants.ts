// FC-layer GEMM shapes of VGG at batch 64 in every transposition the Linear layer could use (which is fastest),
// optionally under several gemmTuning settings alternated in one run, e.g.
//   FC_TUNING='{"claim":true}|{"claim":false}' flock /work/team/cpu.lock \
//     node --experimental-wasm-relaxed-simd dist/bench/fc_gemm_variants.js [batch 64] [in 4096] [out 4096]
// (the transposed forms compute the same product; their outputs are not used).
import { WasmBackend } from '../src/backends/wasm/backend.js';
import { gemmTuning } from '../src/backends/wasm/ops/gemm.js';

async function main(): Promise<void> {
  const [nb, fin, fout] = [Number(process.argv[2] ?? 64), Number(process.argv[3] ?? 4096), Number(process.argv[4] ?? 4096)];
  const be = await WasmBackend.create({ threads: 2, memoryMiB: 1024 });
  const rnd = (len: number) => { const b = be.alloc(len); const v = new Float32Array(len); for (let i = 0; i < len; i++) v[i] = Math.random() - 0.5; be.write(b, v); return b; };
  const x = rnd(nb * fin), w = rnd(fout * fin), wt = rnd(fin * fout), dy = rnd(nb * fout), dyt = rnd(fout * nb), xt = rnd(fin * nb);
  const y = be.alloc(nb * fout), dw = be.alloc(fout * fin), dx = be.alloc(nb * fin);
  const cases: [string, () => void][] = [
    ['fwd  y=x W^T  NT m=b n=out k=in', () => be.run('gemm', { a: x, b: w, c: y, m: nb, n: fout, k: fin, transA: false, transB: true, alpha: 1, beta: 0 })],
    ['fwd  y=x Wt   NN m=b n=out k=in', () => be.run('gemm', { a: x, b: wt, c: y, m: nb, n: fout, k: fin, transA: false, transB: false, alpha: 1, beta: 0 })],
    ['fwd  y^T=W x^T NT m=out n=b k=in', () => be.run('gemm', { a: w, b: x, c: y, m: fout, n: nb, k: fin, transA: false, transB: true, alpha: 1, beta: 0 })],
    ['dW   =dy^T x  TN m=out n=in k=b', () => be.run('gemm', { a: dy, b: x, c: dw, m: fout, n: fin, k: nb, transA: true, transB: false, alpha: 1, beta: 0 })],
    ['dW   =dyt x   NN m=out n=in k=b', () => be.run('gemm', { a: dyt, b: x, c: dw, m: fout, n: fin, k: nb, transA: false, transB: false, alpha: 1, beta: 0 })],
    ['dW   =dyt xt^T NT m=out n=in k=b', () => be.run('gemm', { a: dyt, b: xt, c: dw, m: fout, n: fin, k: nb, transA: false, transB: true, alpha: 1, beta: 0 })],
    ['dx   =dy W    NN m=b n=in k=out', () => be.run('gemm', { a: dy, b: w, c: dx, m: nb, n: fin, k: fout, transA: false, transB: false, alpha: 1, beta: 0 })],
    ['dx^T =W^T dy^T TT m=in n=b k=out', () => be.run('gemm', { a: w, b: dy, c: dx, m: fin, n: nb, k: fout, transA: true, transB: true, alpha: 1, beta: 0 })],
    ['sgd over W', () => be.run('sgd_update', { w, g: dw, v: wt, length: fout * fin, lr: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: false })],
  ];
  // GEMM tuning variants (FC_TUNING='{"claim":false}|{"kc":512}' ...), alternated within each repetition.
  const variants: Record<string, unknown>[] = process.env.FC_TUNING ? process.env.FC_TUNING.split('|').map((v) => JSON.parse(v)) : [{}];
  const base = { ...gemmTuning };
  const times = variants.map(() => cases.map(() => [] as number[]));
  for (let rep = 0; rep < 7; rep++) {
    variants.forEach((v, vi) => {
      Object.assign(gemmTuning, base, v);
      cases.forEach(([, f], i) => { const t0 = performance.now(); f(); times[vi][i].push(performance.now() - t0); });
    });
  }
  Object.assign(gemmTuning, base);
  const flop = 2 * nb * fin * fout;
  variants.forEach((v, vi) => {
    console.log(`gemmTuning ${JSON.stringify(v)}`);
    cases.forEach(([name], i) => {
      const s = times[vi][i].slice(2).sort((a, b) => a - b), med = s[s.length >> 1];
      console.log(`  ${name.padEnd(34)} median ${med.toFixed(2)} ms  min ${s[0].toFixed(2)}  ${(flop / med / 1e6).toFixed(1)} GFLOP/s`);
    });
  });
  await be.dispose();
}
main().catch((e) => { console.error(e); process.exit(1); });
