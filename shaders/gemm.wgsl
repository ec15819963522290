// Tiled SGEMM: C = alpha * op(A) op(B) + beta * C (+ bias[n]) (ReLU), batched over workgroup_id.z.
// A workgroup of WG_X x WG_Y threads computes a BM x BN tile of C (BM = WG_Y*TM, BN = WG_X*TN); each
// thread holds TM x TN accumulators in registers. A and B tiles of depth BK are staged in workgroup
// memory, k-major, so the inner loop reads TM + TN values for TM*TN FMAs. Thread (x, y) owns rows
// y + i*WG_Y and columns x + j*WG_X (interleaved), so neighbouring threads touch neighbouring addresses
// in workgroup memory and in C. Transposes, bias and ReLU are uniform flags, not override constants:
// one pipeline serves every call with the same tiles (lavapipe's JIT takes seconds per pipeline, and a
// uniform branch costs a real GPU next to nothing).
// Kernel names: gemm_f32_tile{BM}x{BN} (ops/gemm.ts picks the constants from the device limits).

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override TM: u32 = 4u;          // TM <= 8, TN <= 8, TM * TN <= 32 (size of the accumulator array)
override TN: u32 = 4u;
override BK: u32 = 16u;

// Bits of Params.flags.
const TRANS_A = 1u;  // A is [k, m] (lda >= m) instead of [m, k] (lda >= k)
const TRANS_B = 2u;  // B is [n, k] (ldb >= k) instead of [k, n] (ldb >= n)
const HAS_BIAS = 4u;
const RELU = 8u;

override BM: u32 = WG_Y * TM;
override BN: u32 = WG_X * TN;
override THREADS: u32 = WG_X * WG_Y;

struct Params {
  m: u32, n: u32, k: u32,
  lda: u32, ldb: u32, ldc: u32,
  aOff: u32, bOff: u32, cOff: u32,       // element offsets of batch 0
  strideA: u32, strideB: u32, strideC: u32, // element strides between batches
  alpha: f32, beta: f32, biasOff: u32, flags: u32,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<storage, read> BIAS: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> As: array<f32, BK * BM>; // As[kk * BM + mm]
var<workgroup> Bs: array<f32, BK * BN>; // Bs[kk * BN + nn]

fn loadA(base: u32, row0: u32, k0: u32, li: u32) {
  let trans = (p.flags & TRANS_A) != 0u;
  for (var idx = li; idx < BM * BK; idx += THREADS) {
    var mm: u32; var kk: u32;
    if (trans) { kk = idx / BM; mm = idx % BM; } else { mm = idx / BK; kk = idx % BK; }
    let r = row0 + mm;
    let kg = k0 + kk;
    var v = 0.0;
    if (r < p.m && kg < p.k) {
      if (trans) { v = A[base + kg * p.lda + r]; } else { v = A[base + r * p.lda + kg]; }
    }
    As[kk * BM + mm] = v;
  }
}

fn loadB(base: u32, col0: u32, k0: u32, li: u32) {
  let trans = (p.flags & TRANS_B) != 0u;
  for (var idx = li; idx < BN * BK; idx += THREADS) {
    var nn: u32; var kk: u32;
    if (trans) { nn = idx / BK; kk = idx % BK; } else { kk = idx / BN; nn = idx % BN; }
    let c = col0 + nn;
    let kg = k0 + kk;
    var v = 0.0;
    if (c < p.n && kg < p.k) {
      if (trans) { v = B[base + c * p.ldb + kg]; } else { v = B[base + kg * p.ldb + c]; }
    }
    Bs[kk * BN + nn] = v;
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn gemm_f32_tiled(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let aBase = p.aOff + wid.z * p.strideA;
  let bBase = p.bOff + wid.z * p.strideB;
  let cBase = p.cOff + wid.z * p.strideC;

  var acc: array<f32, 32>;
  for (var i = 0u; i < TM * TN; i++) { acc[i] = 0.0; }
  var av: array<f32, 8>;
  var bv: array<f32, 8>;

  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    loadA(aBase, row0, k0, li);
    loadB(bBase, col0, k0, li);
    workgroupBarrier();
    let kEnd = min(BK, p.k - k0); // a runtime bound: stops lavapipe unrolling (and JIT-compiling) BK copies
    for (var kk = 0u; kk < kEnd; kk++) {
      for (var i = 0u; i < TM; i++) { av[i] = As[kk * BM + lid.y + i * WG_Y]; }
      for (var j = 0u; j < TN; j++) { bv[j] = Bs[kk * BN + lid.x + j * WG_X]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]); }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let r = row0 + lid.y + i * WG_Y;
    if (r >= p.m) { break; }
    for (var j = 0u; j < TN; j++) {
      let c = col0 + lid.x + j * WG_X;
      if (c < p.n) {
        let at = cBase + r * p.ldc + c;
        var v = p.alpha * acc[i * TN + j];
        if (p.beta != 0.0) { v = fma(p.beta, C[at], v); } // beta 0 overwrites C even where it holds NaN
        if ((p.flags & HAS_BIAS) != 0u) { v += BIAS[p.biasOff + c]; }
        if ((p.flags & RELU) != 0u) { v = max(v, 0.0); }
        C[at] = v;
      }
    }
  }
}

// ---- split-K epilogue: C = alpha * sum over splits of W[s] + beta * C (+ bias) (ReLU) -------------------
// gemmGpu splits a long k over several dispatches of gemm_f32_tiled (each writes its partial product,
// packed [m, n], into W at s * m * n) when C has too few tiles to occupy a GPU, then runs this.
struct SplitParams { m: u32, n: u32, splits: u32, ldc: u32, cOff: u32, biasOff: u32, alpha: f32, beta: f32, flags: u32 }

@group(0) @binding(0) var<storage, read> SW: array<f32>;
@group(0) @binding(1) var<storage, read_write> SC: array<f32>;
@group(0) @binding(2) var<storage, read> SBIAS: array<f32>;
@group(0) @binding(3) var<uniform> sp: SplitParams;

@compute @workgroup_size(64)
fn gemm_f32_splitk_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                          @builtin(local_invocation_index) li: u32) {
  let e = (wid.x + wid.y * nw.x) * 64u + li;
  let mn = sp.m * sp.n;
  if (e >= mn) { return; }
  var s = 0.0;
  for (var i = 0u; i < sp.splits; i++) { s += SW[i * mn + e]; }
  let at = sp.cOff + (e / sp.n) * sp.ldc + e % sp.n;
  var v = sp.alpha * s;
  if (sp.beta != 0.0) { v = fma(sp.beta, SC[at], v); }
  if ((sp.flags & HAS_BIAS) != 0u) { v += SBIAS[sp.biasOff + e % sp.n]; }
  if ((sp.flags & RELU) != 0u) { v = max(v, 0.0); }
  SC[at] = v;
}
