// SGEMM for large matrices: C = alpha * op(A) op(B) + beta * C (+ bias[n]) (ReLU), batched over wid.z.
// Same contract and uniforms as gemm.wgsl; bigger register tiles read from workgroup memory as vec4.
// A workgroup of WG_X x WG_Y threads computes a BM x BN tile (BM = WG_Y*TM, BN = WG_X*TN, TM and TN
// multiples of 4). Tiles of depth BK are staged k-major as vec4s along m (As) and along n (Bs), so one
// k step costs a thread TM/4 + TN/4 vec4 loads from workgroup memory for TM*TN FMAs. Thread (x, y) owns
// row quads y + i*WG_Y and column quads x + j*WG_X (interleaved: neighbouring threads, neighbouring
// addresses). Global loads are vec4 when the operand's contiguous dimension, leading dimension, offset
// and batch stride are multiples of 4 (flags VEC_A / VEC_B, decided on the host), else scalar.
// Kernel names: gemm_f32_tile{BM}x{BN}_vec4.

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override TM: u32 = 8u;   // multiple of 4, <= 8
override TN: u32 = 8u;   // multiple of 4, <= 8
override BK: u32 = 8u;   // multiple of 4

override BM: u32 = WG_Y * TM;
override BN: u32 = WG_X * TN;
override THREADS: u32 = WG_X * WG_Y;

const TRANS_A = 1u;
const TRANS_B = 2u;
const HAS_BIAS = 4u;
const RELU = 8u;
const VEC_A = 16u;
const VEC_B = 32u;

struct Params {
  m: u32, n: u32, k: u32,
  lda: u32, ldb: u32, ldc: u32,
  aOff: u32, bOff: u32, cOff: u32,
  strideA: u32, strideB: u32, strideC: u32,
  alpha: f32, beta: f32, biasOff: u32, flags: u32,
}

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<storage, read> BIAS: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> As: array<vec4<f32>, BK * BM / 4u>; // As[kk * BM/4 + mm/4][mm % 4]
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4u>; // Bs[kk * BN/4 + nn/4][nn % 4]

fn scalarA(i: u32) -> f32 { return A[i / 4u][i % 4u]; }
fn scalarB(i: u32) -> f32 { return B[i / 4u][i % 4u]; }

fn loadA(base: u32, row0: u32, k0: u32, li: u32) {
  let trans = (p.flags & TRANS_A) != 0u;
  if ((p.flags & VEC_A) != 0u) {
    // one vec4 per thread step: along m when transposed ([k, m]), else along k ([m, k])
    for (var idx = li; idx < BM * BK / 4u; idx += THREADS) {
      if (trans) {
        let kk = idx / (BM / 4u); let mq = idx % (BM / 4u);
        let r = row0 + mq * 4u; let kg = k0 + kk;
        var v = vec4<f32>(0.0);
        if (r < p.m && kg < p.k) { v = A[(base + kg * p.lda + r) / 4u]; }
        As[kk * (BM / 4u) + mq] = v;
      } else {
        let mm = idx / (BK / 4u); let kq = idx % (BK / 4u);
        let r = row0 + mm; let kg = k0 + kq * 4u;
        var v = vec4<f32>(0.0);
        if (r < p.m && kg < p.k) { v = A[(base + r * p.lda + kg) / 4u]; }
        for (var t = 0u; t < 4u; t++) { As[(kq * 4u + t) * (BM / 4u) + mm / 4u][mm % 4u] = v[t]; }
      }
    }
    return;
  }
  for (var idx = li; idx < BM * BK; idx += THREADS) {
    var mm: u32; var kk: u32;
    if (trans) { kk = idx / BM; mm = idx % BM; } else { mm = idx / BK; kk = idx % BK; }
    let r = row0 + mm; let kg = k0 + kk;
    var v = 0.0;
    if (r < p.m && kg < p.k) { v = scalarA(select(base + r * p.lda + kg, base + kg * p.lda + r, trans)); }
    As[kk * (BM / 4u) + mm / 4u][mm % 4u] = v;
  }
}

fn loadB(base: u32, col0: u32, k0: u32, li: u32) {
  let trans = (p.flags & TRANS_B) != 0u;
  if ((p.flags & VEC_B) != 0u) {
    for (var idx = li; idx < BN * BK / 4u; idx += THREADS) {
      if (trans) {
        let nn = idx / (BK / 4u); let kq = idx % (BK / 4u);
        let c = col0 + nn; let kg = k0 + kq * 4u;
        var v = vec4<f32>(0.0);
        if (c < p.n && kg < p.k) { v = B[(base + c * p.ldb + kg) / 4u]; }
        for (var t = 0u; t < 4u; t++) { Bs[(kq * 4u + t) * (BN / 4u) + nn / 4u][nn % 4u] = v[t]; }
      } else {
        let kk = idx / (BN / 4u); let nq = idx % (BN / 4u);
        let c = col0 + nq * 4u; let kg = k0 + kk;
        var v = vec4<f32>(0.0);
        if (c < p.n && kg < p.k) { v = B[(base + kg * p.ldb + c) / 4u]; }
        Bs[kk * (BN / 4u) + nq] = v;
      }
    }
    return;
  }
  for (var idx = li; idx < BN * BK; idx += THREADS) {
    var nn: u32; var kk: u32;
    if (trans) { nn = idx / BK; kk = idx % BK; } else { kk = idx / BN; nn = idx % BN; }
    let c = col0 + nn; let kg = k0 + kk;
    var v = 0.0;
    if (c < p.n && kg < p.k) { v = scalarB(select(base + kg * p.ldb + c, base + c * p.ldb + kg, trans)); }
    Bs[kk * (BN / 4u) + nn / 4u][nn % 4u] = v;
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn gemm_f32_tiled_vec4(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let aBase = p.aOff + wid.z * p.strideA;
  let bBase = p.bOff + wid.z * p.strideB;
  let cBase = p.cOff + wid.z * p.strideC;
  let RQ = TM / 4u; // row quads per thread
  let CQ = TN / 4u; // column quads per thread

  var acc: array<vec4<f32>, 16>; // acc[(i*4 + r) * CQ + j]: row quad i, row r within it, column quad j
  for (var i = 0u; i < 16u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    loadA(aBase, row0, k0, li);
    loadB(bBase, col0, k0, li);
    workgroupBarrier();
    let kEnd = min(BK, p.k - k0); // a runtime bound keeps lavapipe from unrolling (and JIT-compiling) BK copies
    for (var kk = 0u; kk < kEnd; kk++) {
      var bq: array<vec4<f32>, 2>;
      for (var j = 0u; j < CQ; j++) { bq[j] = Bs[kk * (BN / 4u) + lid.x + j * WG_X]; }
      for (var i = 0u; i < RQ; i++) {
        let aq = As[kk * (BM / 4u) + lid.y + i * WG_Y];
        for (var r = 0u; r < 4u; r++) {
          for (var j = 0u; j < CQ; j++) { acc[(i * 4u + r) * CQ + j] = fma(vec4<f32>(aq[r]), bq[j], acc[(i * 4u + r) * CQ + j]); }
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < RQ; i++) {
    for (var r = 0u; r < 4u; r++) {
      let row = row0 + (lid.y + i * WG_Y) * 4u + r;
      if (row >= p.m) { break; }
      for (var j = 0u; j < CQ; j++) {
        let cq = col0 + (lid.x + j * WG_X) * 4u;
        let a4 = acc[(i * 4u + r) * CQ + j];
        for (var t = 0u; t < 4u; t++) {
          let c = cq + t;
          if (c < p.n) {
            let at = cBase + row * p.ldc + c;
            var v = p.alpha * a4[t];
            if (p.beta != 0.0) { v = fma(p.beta, C[at], v); }
            if ((p.flags & HAS_BIAS) != 0u) { v += BIAS[p.biasOff + c]; }
            if ((p.flags & RELU) != 0u) { v = max(v, 0.0); }
            C[at] = v;
          }
        }
      }
    }
  }
}
