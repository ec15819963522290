// Winograd F(mxm, 3x3) transforms for 3x3 stride-1 convolution over NHWC/HWIO (see src/backends/webgpu/ops/conv.ts).
//
// Layouts (positions pos = i*ALPHA + j of the ALPHA x ALPHA transformed tile, ALPHA = M + 2):
//   U [pos][ci][co]   transformed filter         (winograd_filter_transform)
//   V [pos][t][ci]    transformed input tiles    (winograd_input_transform)
//   Mm[pos][t][co]    per-position GEMM V[pos] x U[pos]; A^T Mm A is the output tile (winograd_output_transform)
//   D [pos][t][co]    A dY A^T, the adjoint of the output transform (winograd_dy_transform)
//   Mw[pos][ci][co]   per-position GEMM V[pos]^T x D[pos]; G^T Mw G is dw (winograd_filter_grad_transform)
// t counts the tiles of one chunk (global tile t0 + t); tile (img, ty, tx) starts at output row ty*M.
// V and D may be split into sub-blocks of `sub` tiles, laid out [s][pos][t % sub][c], so that the filter
// gradient's long sum over tiles becomes independent GEMMs (split-K); tiles past the chunk are zero there.
// sub = 0 means one block, which is the plain [pos][t][c] layout.
// One invocation handles one (tile or filter entry, channel): consecutive invocations take consecutive
// channels, so every global load and store is coalesced. Transform matrices are compile-time constants
// selected by the override M, so after pipeline-constant substitution the loops unroll and zeros fold.
//
// Interpolation points (Cook-Toom, generated with exact fractions, B^T rows = Lagrange numerators):
//   F(2x2,3x3): 0, +-1, inf
//   F(4x4,3x3): 0, +-1/2, +-2, inf: in a float32 simulation (64-256 channels) its error was 1.4x lower
//     (median) and 2.5x lower (max) than the common 0, +-1, +-2
//   F(6x6,3x3): 0, +-1, +-2, +-1/2, inf: the best of seven sets tried in the same simulation
// Errors on the GPU against float64 direct convolution: test/webgpu/conv.test.ts.

override M: u32 = 2u;            // output tile size: 2, 4 or 6
override ALPHA: u32 = M + 2u;    // transformed tile size
override WG: u32 = 64u;          // invocations per workgroup (compat adapters allow at most 128)

const BT_F2 = array<f32, 16>(
  1.0, 0.0, -1.0, 0.0,
  0.0, 1.0, 1.0, 0.0,
  0.0, -1.0, 1.0, 0.0,
  0.0, -1.0, 0.0, 1.0);
const G_F2 = array<f32, 12>(
  1.0, 0.0, 0.0,
  0.5, 0.5, 0.5,
  0.5, -0.5, 0.5,
  0.0, 0.0, 1.0);
const AT_F2 = array<f32, 8>(
  1.0, 1.0, 1.0, 0.0,
  0.0, 1.0, -1.0, 1.0);

const BT_F4 = array<f32, 36>(
  1.0, 0.0, -4.25, 0.0, 1.0, 0.0,
  0.0, -2.0, -4.0, 0.5, 1.0, 0.0,
  0.0, 2.0, -4.0, -0.5, 1.0, 0.0,
  0.0, -0.5, -0.25, 2.0, 1.0, 0.0,
  0.0, 0.5, -0.25, -2.0, 1.0, 0.0,
  0.0, 1.0, 0.0, -4.25, 0.0, 1.0);
const G_F4 = array<f32, 18>(
  1.0, 0.0, 0.0,
  -0.5333333333333333, -0.26666666666666666, -0.13333333333333333,
  -0.5333333333333333, 0.26666666666666666, -0.13333333333333333,
  0.03333333333333333, 0.06666666666666667, 0.13333333333333333,
  0.03333333333333333, -0.06666666666666667, 0.13333333333333333,
  0.0, 0.0, 1.0);
const AT_F4 = array<f32, 24>(
  1.0, 1.0, 1.0, 1.0, 1.0, 0.0,
  0.0, 0.5, -0.5, 2.0, -2.0, 0.0,
  0.0, 0.25, 0.25, 4.0, 4.0, 0.0,
  0.0, 0.125, -0.125, 8.0, -8.0, 1.0);

const BT_F6 = array<f32, 64>(
  1.0, 0.0, -5.25, 0.0, 5.25, 0.0, -1.0, 0.0,
  0.0, 1.0, 1.0, -4.25, -4.25, 1.0, 1.0, 0.0,
  0.0, -1.0, 1.0, 4.25, -4.25, -1.0, 1.0, 0.0,
  0.0, 0.5, 0.25, -2.5, -1.25, 2.0, 1.0, 0.0,
  0.0, -0.5, 0.25, 2.5, -1.25, -2.0, 1.0, 0.0,
  0.0, 2.0, 4.0, -2.5, -5.0, 0.5, 1.0, 0.0,
  0.0, -2.0, 4.0, 2.5, -5.0, -0.5, 1.0, 0.0,
  0.0, -1.0, 0.0, 5.25, 0.0, -5.25, 0.0, 1.0);
const G_F6 = array<f32, 24>(
  1.0, 0.0, 0.0,
  -0.2222222222222222, -0.2222222222222222, -0.2222222222222222,
  -0.2222222222222222, 0.2222222222222222, -0.2222222222222222,
  0.011111111111111112, 0.022222222222222223, 0.044444444444444446,
  0.011111111111111112, -0.022222222222222223, 0.044444444444444446,
  0.7111111111111111, 0.35555555555555557, 0.17777777777777778,
  0.7111111111111111, -0.35555555555555557, 0.17777777777777778,
  0.0, 0.0, 1.0);
const AT_F6 = array<f32, 48>(
  1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0,
  0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 0.0,
  0.0, 1.0, 1.0, 4.0, 4.0, 0.25, 0.25, 0.0,
  0.0, 1.0, -1.0, 8.0, -8.0, 0.125, -0.125, 0.0,
  0.0, 1.0, 1.0, 16.0, 16.0, 0.0625, 0.0625, 0.0,
  0.0, 1.0, -1.0, 32.0, -32.0, 0.03125, -0.03125, 1.0);

/** B^T[i][k], ALPHA x ALPHA. */
fn bt(i: u32, k: u32) -> f32 {
  if (M == 2u) { return BT_F2[i * 4u + k]; }
  if (M == 4u) { return BT_F4[i * 6u + k]; }
  return BT_F6[i * 8u + k];
}
/** G[i][k], ALPHA x 3. */
fn gm(i: u32, k: u32) -> f32 {
  if (M == 2u) { return G_F2[i * 3u + k]; }
  if (M == 4u) { return G_F4[i * 3u + k]; }
  return G_F6[i * 3u + k];
}
/** A^T[i][k], M x ALPHA. */
fn at(i: u32, k: u32) -> f32 {
  if (M == 2u) { return AT_F2[i * 4u + k]; }
  if (M == 4u) { return AT_F4[i * 6u + k]; }
  return AT_F6[i * 8u + k];
}

// One parameter block for every entry point (each reads the fields its comment names).
struct Params {
  n: u32, h: u32, w: u32, c: u32,     // image or output sizes and the channel count of the tensor walked
  pad: i32, th: u32, tw: u32, t0: u32, // padding, tiles per column/row, first tile of this chunk
  tc: u32, rows: u32, cols: u32, flags: u32, // tiles in this chunk; filter matrix rows/cols; bit0 bias, bit1 relu, bit2 flip
  beta: f32, total: u32, sub: u32, p2: u32,  // accumulate factor; invocations that do work; tiles per sub-block
}

fn invocation(wid: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

/** Where tile t, channel ch of a [s][pos][t % sub][c] scratch matrix lives: (index at pos 0, stride per pos). */
fn block(t: u32, ch: u32, tc: u32, sub: u32, c: u32) -> vec2u {
  var kc = tc;
  if (sub != 0u) { kc = sub; }
  return vec2u((t / kc) * ALPHA * ALPHA * kc * c + (t % kc) * c + ch, kc * c);
}

// ---- U = G g G^T for every (row, col) of the filter; flip builds the data-gradient filter:
// rotated 180 degrees with in/out swapped, g'(ky,kx)[co][ci] = w[2-ky][2-kx][ci][co].
// rows = cin', cols = cout' (the roles after the optional flip).
@group(0) @binding(2) var<uniform> pf: Params;
@group(0) @binding(0) var<storage, read> ft_w: array<f32>;
@group(0) @binding(1) var<storage, read_write> ft_u: array<f32>;

@compute @workgroup_size(WG)
fn winograd_filter_transform(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                             @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pf.total) { return; }
  let a = idx / pf.cols;   // cin' index
  let b = idx % pf.cols;   // cout' index
  let flip = (pf.flags & 4u) != 0u;
  var g: array<f32, 9>;
  for (var ky = 0u; ky < 3u; ky++) {
    for (var kx = 0u; kx < 3u; kx++) {
      var src: u32;
      if (flip) { // original cin = cols, cout = rows
        src = (((2u - ky) * 3u + (2u - kx)) * pf.cols + b) * pf.rows + a;
      } else {
        src = ((ky * 3u + kx) * pf.rows + a) * pf.cols + b;
      }
      g[ky * 3u + kx] = ft_w[src];
    }
  }
  var t: array<f32, 24>; // G g: ALPHA x 3
  for (var i = 0u; i < ALPHA; i++) {
    for (var j = 0u; j < 3u; j++) {
      t[i * 3u + j] = gm(i, 0u) * g[j] + gm(i, 1u) * g[3u + j] + gm(i, 2u) * g[6u + j];
    }
  }
  let plane = pf.rows * pf.cols;
  for (var i = 0u; i < ALPHA; i++) {
    for (var j = 0u; j < ALPHA; j++) {
      let u = t[i * 3u] * gm(j, 0u) + t[i * 3u + 1u] * gm(j, 1u) + t[i * 3u + 2u] * gm(j, 2u);
      ft_u[(i * ALPHA + j) * plane + idx] = u;
    }
  }
}

// ---- V = B^T d B for every (tile, ci) of the chunk. n, h, w, c = input image; pad may be negative
// (the data gradient uses pad' = 2 - pad), reading then starts inside the image.
@group(0) @binding(2) var<uniform> pi: Params;
@group(0) @binding(0) var<storage, read> it_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> it_v: array<f32>;

@compute @workgroup_size(WG)
fn winograd_input_transform(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                            @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pi.total) { return; }
  let t = idx / pi.c;
  let ci = idx % pi.c;
  let blk = block(t, ci, pi.tc, pi.sub, pi.c);
  if (t >= pi.tc) { // padding of the last sub-block
    for (var p = 0u; p < ALPHA * ALPHA; p++) { it_v[blk.x + p * blk.y] = 0.0; }
    return;
  }
  let tg = pi.t0 + t;
  let per = pi.th * pi.tw;
  let img = tg / per;
  let r = tg % per;
  let y0 = i32((r / pi.tw) * M) - pi.pad;
  let x0 = i32((r % pi.tw) * M) - pi.pad;
  var d: array<f32, 64>;
  for (var i = 0u; i < ALPHA; i++) {
    let iy = y0 + i32(i);
    for (var j = 0u; j < ALPHA; j++) {
      let ix = x0 + i32(j);
      var v = 0.0;
      if (iy >= 0 && iy < i32(pi.h) && ix >= 0 && ix < i32(pi.w)) {
        v = it_x[((img * pi.h + u32(iy)) * pi.w + u32(ix)) * pi.c + ci];
      }
      d[i * 8u + j] = v;
    }
  }
  var s: array<f32, 64>; // B^T d
  for (var i = 0u; i < ALPHA; i++) {
    for (var j = 0u; j < ALPHA; j++) {
      var acc = 0.0;
      for (var k = 0u; k < ALPHA; k++) { acc += bt(i, k) * d[k * 8u + j]; }
      s[i * 8u + j] = acc;
    }
  }
  for (var i = 0u; i < ALPHA; i++) {
    for (var j = 0u; j < ALPHA; j++) {
      var acc = 0.0;
      for (var k = 0u; k < ALPHA; k++) { acc += s[i * 8u + k] * bt(j, k); }
      it_v[blk.x + (i * ALPHA + j) * blk.y] = acc;
    }
  }
}

// ---- y = A^T Mm A (+ bias, ReLU) for every (tile, co) of the chunk; h, w, c = output sizes.
// Positions of edge tiles beyond the output are computed and dropped.
@group(0) @binding(3) var<uniform> po: Params;
@group(0) @binding(0) var<storage, read> ot_m: array<f32>;
@group(0) @binding(1) var<storage, read> ot_bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> ot_y: array<f32>;

@compute @workgroup_size(WG)
fn winograd_output_transform(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                             @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= po.total) { return; }
  let t = idx / po.c;
  let co = idx % po.c;
  let plane = po.tc * po.c;
  var mv: array<f32, 64>;
  for (var p = 0u; p < ALPHA * ALPHA; p++) { mv[(p / ALPHA) * 8u + p % ALPHA] = ot_m[p * plane + idx]; }
  var s: array<f32, 48>; // A^T Mm: M x ALPHA
  for (var i = 0u; i < M; i++) {
    for (var j = 0u; j < ALPHA; j++) {
      var acc = 0.0;
      for (var k = 0u; k < ALPHA; k++) { acc += at(i, k) * mv[k * 8u + j]; }
      s[i * 8u + j] = acc;
    }
  }
  var bias = 0.0;
  if ((po.flags & 1u) != 0u) { bias = ot_bias[co]; }
  let relu = (po.flags & 2u) != 0u;
  let tg = po.t0 + t;
  let per = po.th * po.tw;
  let img = tg / per;
  let r = tg % per;
  let y0 = (r / po.tw) * M;
  let x0 = (r % po.tw) * M;
  for (var i = 0u; i < M; i++) {
    let oy = y0 + i;
    if (oy >= po.h) { break; }
    for (var j = 0u; j < M; j++) {
      let ox = x0 + j;
      if (ox >= po.w) { break; }
      var acc = bias;
      for (var k = 0u; k < ALPHA; k++) { acc += s[i * 8u + k] * at(j, k); }
      if (relu) { acc = max(acc, 0.0); }
      ot_y[((img * po.h + oy) * po.w + ox) * po.c + co] = acc;
    }
  }
}

// ---- D = A dY A^T for every (tile, co) of the chunk (the adjoint of the output transform);
// h, w, c = output-gradient sizes; positions past the output are zero, as their gradient is.
@group(0) @binding(2) var<uniform> pd: Params;
@group(0) @binding(0) var<storage, read> dt_dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dt_d: array<f32>;

@compute @workgroup_size(WG)
fn winograd_dy_transform(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pd.total) { return; }
  let t = idx / pd.c;
  let co = idx % pd.c;
  let blk = block(t, co, pd.tc, pd.sub, pd.c);
  if (t >= pd.tc) { // padding of the last sub-block
    for (var p = 0u; p < ALPHA * ALPHA; p++) { dt_d[blk.x + p * blk.y] = 0.0; }
    return;
  }
  let tg = pd.t0 + t;
  let per = pd.th * pd.tw;
  let img = tg / per;
  let r = tg % per;
  let y0 = (r / pd.tw) * M;
  let x0 = (r % pd.tw) * M;
  var e: array<f32, 36>; // dY tile, M x M
  for (var i = 0u; i < M; i++) {
    for (var j = 0u; j < M; j++) {
      var v = 0.0;
      if (y0 + i < pd.h && x0 + j < pd.w) { v = dt_dy[((img * pd.h + y0 + i) * pd.w + x0 + j) * pd.c + co]; }
      e[i * 6u + j] = v;
    }
  }
  var s: array<f32, 48>; // A dY: ALPHA x M, A[i][k] = A^T[k][i]
  for (var i = 0u; i < ALPHA; i++) {
    for (var j = 0u; j < M; j++) {
      var acc = 0.0;
      for (var k = 0u; k < M; k++) { acc += at(k, i) * e[k * 6u + j]; }
      s[i * 6u + j] = acc;
    }
  }
  for (var i = 0u; i < ALPHA; i++) {
    for (var j = 0u; j < ALPHA; j++) {
      var acc = 0.0;
      for (var k = 0u; k < M; k++) { acc += s[i * 6u + k] * at(k, j); }
      dt_d[blk.x + (i * ALPHA + j) * blk.y] = acc;
    }
  }
}

// ---- dw = beta*dw + G^T Mw G for every (ci, co); rows = cin, cols = cout. dw is HWIO.
@group(0) @binding(2) var<uniform> pg: Params;
@group(0) @binding(0) var<storage, read> gt_m: array<f32>;
@group(0) @binding(1) var<storage, read_write> gt_dw: array<f32>;

@compute @workgroup_size(WG)
fn winograd_filter_grad_transform(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                  @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pg.total) { return; }
  let plane = pg.rows * pg.cols;
  var s: array<f32, 24>; // G^T Mw: 3 x ALPHA
  for (var i = 0u; i < 3u; i++) {
    for (var j = 0u; j < ALPHA; j++) {
      var acc = 0.0;
      for (var k = 0u; k < ALPHA; k++) { acc += gm(k, i) * gt_m[(k * ALPHA + j) * plane + idx]; }
      s[i * 8u + j] = acc;
    }
  }
  for (var i = 0u; i < 3u; i++) {
    for (var j = 0u; j < 3u; j++) {
      var acc = 0.0;
      for (var k = 0u; k < ALPHA; k++) { acc += s[i * 8u + k] * gm(k, j); }
      let o = (i * 3u + j) * plane + idx;
      if (pg.beta == 0.0) { gt_dw[o] = acc; } else { gt_dw[o] = pg.beta * gt_dw[o] + acc; }
    }
  }
}

