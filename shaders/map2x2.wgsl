// Transforms of winograd_map2x2, the minimal-multiplication 3x3 pad-1 convolution on a 2x2 map (see
// src/backends/webgpu/ops/conv_map2x2.ts; the wasm twin and the derivation are in assembly/map2x2.ts).
//
// Per dimension, with pad 1 on a 2-wide map: d = B^T x = (x0 + x1, x1, x0), g = G w = (w1, w2 - w1, w0 - w1),
// y = A^T m = (m0 + m1, m0 + m2); nested over rows and columns that is 9 products per 2x2 output tile.
// Layouts (elements; positions pos = j*3 + l, planes contiguous):
//   U [9][cin][cout]  = G w G^T            (map2x2_filter_transform; dw = G^T dU G: map2x2_filter_adjoint)
//   D [9][n][c]       = B^T x B             (map2x2_input_transform;  dx = B dD B^T: map2x2_input_adjoint)
//   M [9][n][c]       tile GEMM results     (map2x2_output_transform: y = A^T M A; dM = A dY A^T: map2x2_output_adjoint)
// One invocation per (image or filter row, channel): consecutive invocations take consecutive channels, so
// loads and stores coalesce.

override WG: u32 = 64u;

struct Params {
  rows: u32, c: u32, flags: u32, total: u32, // images (or cin); channels (or cout); bit0 bias, bit1 relu; invocations
  beta: f32, p1: u32, p2: u32, p3: u32,
}

fn invocation(wid: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// ---- U = G w G^T for every (ci, co); w HWIO [3][3][cin][cout]: rows = cin, c = cout.
@group(0) @binding(2) var<uniform> pf: Params;
@group(0) @binding(0) var<storage, read> ft_w: array<f32>;
@group(0) @binding(1) var<storage, read_write> ft_u: array<f32>;

@compute @workgroup_size(WG)
fn map2x2_filter_transform(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                           @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pf.total) { return; }
  let plane = pf.rows * pf.c;
  var w: array<f32, 9>;
  for (var t = 0u; t < 9u; t++) { w[t] = ft_w[t * plane + idx]; }
  // Rows of G w (over ky) for each kx, then the same over kx.
  var r: array<f32, 9>;
  for (var kx = 0u; kx < 3u; kx++) {
    r[kx] = w[3u + kx];
    r[3u + kx] = w[6u + kx] - w[3u + kx];
    r[6u + kx] = w[kx] - w[3u + kx];
  }
  for (var j = 0u; j < 3u; j++) {
    ft_u[(j * 3u) * plane + idx] = r[j * 3u + 1u];
    ft_u[(j * 3u + 1u) * plane + idx] = r[j * 3u + 2u] - r[j * 3u + 1u];
    ft_u[(j * 3u + 2u) * plane + idx] = r[j * 3u] - r[j * 3u + 1u];
  }
}

// ---- dw = beta dw + G^T dU G for every (ci, co); beta 0 never reads dw.
@group(0) @binding(2) var<uniform> pa: Params;
@group(0) @binding(0) var<storage, read> fa_u: array<f32>;
@group(0) @binding(1) var<storage, read_write> fa_w: array<f32>;

@compute @workgroup_size(WG)
fn map2x2_filter_adjoint(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pa.total) { return; }
  let plane = pa.rows * pa.c;
  var u: array<f32, 9>;
  for (var p = 0u; p < 9u; p++) { u[p] = fa_u[p * plane + idx]; }
  // G^T maps (g0, g1, g2) to (g2, g0 - g1 - g2, g1): rows (over j) first, then columns.
  var a: array<f32, 9>;
  for (var l = 0u; l < 3u; l++) {
    a[l] = u[6u + l];
    a[3u + l] = u[l] - u[3u + l] - u[6u + l];
    a[6u + l] = u[3u + l];
  }
  for (var ky = 0u; ky < 3u; ky++) {
    var v = array<f32, 3>(a[ky * 3u + 2u], a[ky * 3u] - a[ky * 3u + 1u] - a[ky * 3u + 2u], a[ky * 3u + 1u]);
    for (var kx = 0u; kx < 3u; kx++) {
      let o = (ky * 3u + kx) * plane + idx;
      var r = v[kx];
      if (pa.beta != 0.0) { r += pa.beta * fa_w[o]; }
      fa_w[o] = r;
    }
  }
}

// ---- D = B^T x B for every (image, channel) of x (rows images of 2x2 pixels, c channels).
@group(0) @binding(2) var<uniform> pi: Params;
@group(0) @binding(0) var<storage, read> it_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> it_d: array<f32>;

@compute @workgroup_size(WG)
fn map2x2_input_transform(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                          @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pi.total) { return; }
  let img = idx / pi.c;
  let ch = idx % pi.c;
  let base = img * 4u * pi.c + ch;
  let x00 = it_x[base]; let x01 = it_x[base + pi.c]; let x10 = it_x[base + 2u * pi.c]; let x11 = it_x[base + 3u * pi.c];
  let s0 = x00 + x10; let s1 = x01 + x11;
  var d = array<f32, 9>(s0 + s1, s1, s0, x10 + x11, x11, x10, x00 + x01, x01, x00);
  let plane = pi.rows * pi.c;
  for (var p = 0u; p < 9u; p++) { it_d[p * plane + idx] = d[p]; }
}

// ---- dx = B dD B^T for every (image, channel): overwrites dx.
@group(0) @binding(2) var<uniform> pj: Params;
@group(0) @binding(0) var<storage, read> ia_d: array<f32>;
@group(0) @binding(1) var<storage, read_write> ia_x: array<f32>;

@compute @workgroup_size(WG)
fn map2x2_input_adjoint(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                        @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pj.total) { return; }
  let plane = pj.rows * pj.c;
  var e: array<f32, 9>;
  for (var p = 0u; p < 9u; p++) { e[p] = ia_d[p * plane + idx]; }
  // B maps (d0, d1, d2) to (d0 + d2, d0 + d1): rows, then columns.
  var r: array<f32, 6>;
  for (var l = 0u; l < 3u; l++) { r[l] = e[l] + e[6u + l]; r[3u + l] = e[l] + e[3u + l]; }
  let base = (idx / pj.c) * 4u * pj.c + idx % pj.c;
  ia_x[base] = r[0] + r[2];
  ia_x[base + pj.c] = r[0] + r[1];
  ia_x[base + 2u * pj.c] = r[3] + r[5];
  ia_x[base + 3u * pj.c] = r[3] + r[4];
}

// ---- y = A^T M A (+ bias) (ReLU) for every (image, channel).
@group(0) @binding(3) var<uniform> po: Params;
@group(0) @binding(0) var<storage, read> ot_m: array<f32>;
@group(0) @binding(1) var<storage, read> ot_bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> ot_y: array<f32>;

@compute @workgroup_size(WG)
fn map2x2_output_transform(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                           @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= po.total) { return; }
  let plane = po.rows * po.c;
  let ch = idx % po.c;
  var m: array<f32, 9>;
  for (var p = 0u; p < 9u; p++) { m[p] = ot_m[p * plane + idx]; }
  // A^T maps (m0, m1, m2) to (m0 + m1, m0 + m2): rows, then columns.
  var b: array<f32, 6>;
  for (var l = 0u; l < 3u; l++) { b[l] = m[l] + m[3u + l]; b[3u + l] = m[l] + m[6u + l]; }
  var y = array<f32, 4>(b[0] + b[1], b[0] + b[2], b[3] + b[4], b[3] + b[5]);
  var bias = 0.0;
  if ((po.flags & 1u) != 0u) { bias = ot_bias[ch]; }
  let base = (idx / po.c) * 4u * po.c + ch;
  for (var q = 0u; q < 4u; q++) {
    var v = y[q] + bias;
    if ((po.flags & 2u) != 0u) { v = max(v, 0.0); }
    ot_y[base + q * po.c] = v;
  }
}

// ---- dM = A dY A^T for every (image, channel) of dy.
@group(0) @binding(2) var<uniform> pd: Params;
@group(0) @binding(0) var<storage, read> oa_y: array<f32>;
@group(0) @binding(1) var<storage, read_write> oa_m: array<f32>;

@compute @workgroup_size(WG)
fn map2x2_output_adjoint(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pd.total) { return; }
  let base = (idx / pd.c) * 4u * pd.c + idx % pd.c;
  let y00 = oa_y[base]; let y01 = oa_y[base + pd.c]; let y10 = oa_y[base + 2u * pd.c]; let y11 = oa_y[base + 3u * pd.c];
  // A maps (y0, y1) to (y0 + y1, y0, y1): rows, then columns.
  let s0 = y00 + y10; let s1 = y01 + y11;
  var d = array<f32, 9>(s0 + s1, s0, s1, y00 + y01, y00, y01, y10 + y11, y10, y11);
  let plane = pd.rows * pd.c;
  for (var p = 0u; p < 9u; p++) { oa_m[p * plane + idx] = d[p]; }
}
