// im2col / col2im over NHWC activations, and the column sums that give a convolution's bias gradient.
//
// col is [P, K] with P = n*oh*ow output positions and K = kh*kw*cin, column (ky*kw + kx)*cin + ci
// (the HWIO weight order, so the forward pass is col x W). The operator (src/backends/webgpu/ops/conv.ts)
// processes col in chunks of rows [r0, r0 + rows) so that a chunk fits one storage binding; the shaders
// address the chunk with local rows. One invocation per output element; consecutive invocations take
// consecutive channels, so loads and stores are coalesced.

override WG: u32 = 64u; // invocations per workgroup (compat adapters allow at most 128)

struct Params {
  n: u32, h: u32, w: u32, cin: u32,
  kh: u32, kw: u32, stride: u32, pad: u32,
  oh: u32, ow: u32, r0: u32, rows: u32,
  total: u32, img0: u32, accBelow: u32, p0: u32, // invocations that work; first image; images < accBelow accumulate
}

fn invocation(wid: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// ---- col[row, k] = x at (row's output position, k's kernel tap and channel), 0 in the padding.
@group(0) @binding(2) var<uniform> pc: Params;
@group(0) @binding(0) var<storage, read> ic_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> ic_col: array<f32>;

@compute @workgroup_size(WG)
fn im2col_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pc.total) { return; }
  let kk = pc.kh * pc.kw * pc.cin;
  let row = idx / kk;
  let col = idx % kk;
  let ci = col % pc.cin;
  let tap = col / pc.cin;
  let kx = tap % pc.kw;
  let ky = tap / pc.kw;
  let p = pc.r0 + row;
  let per = pc.oh * pc.ow;
  let img = p / per;
  let q = p % per;
  let iy = i32((q / pc.ow) * pc.stride + ky) - i32(pc.pad);
  let ix = i32((q % pc.ow) * pc.stride + kx) - i32(pc.pad);
  var v = 0.0;
  if (iy >= 0 && iy < i32(pc.h) && ix >= 0 && ix < i32(pc.w)) {
    v = ic_x[((img * pc.h + u32(iy)) * pc.w + u32(ix)) * pc.cin + ci];
  }
  ic_col[idx] = v;
}

// ---- dx[x] = sum of the chunk's col entries that im2col read from x: a gather per x element (no
// atomics). Invocations cover images img0.. of x; an image already touched by an earlier chunk
// (img < accBelow) accumulates, otherwise it is overwritten, so dx needs no clearing pass.
@group(0) @binding(2) var<uniform> pg: Params;
@group(0) @binding(0) var<storage, read> ci_col: array<f32>;
@group(0) @binding(1) var<storage, read_write> ci_x: array<f32>;

@compute @workgroup_size(WG)
fn col2im_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pg.total) { return; }
  let xi = pg.img0 * pg.h * pg.w * pg.cin + idx;
  let ci = xi % pg.cin;
  let pix = xi / pg.cin;
  let ix = pix % pg.w;
  let iy = (pix / pg.w) % pg.h;
  let img = pix / (pg.w * pg.h);
  let kk = pg.kh * pg.kw * pg.cin;
  let r1 = pg.r0 + pg.rows;
  let unit = select(0u, 1u, pg.stride == 1u); // stride 1 (uniform): no divisions
  var acc = 0.0;
  for (var ky = 0u; ky < pg.kh; ky++) {
    let ny = i32(iy + pg.pad) - i32(ky);           // = oy * stride when this tap reads x
    if (ny < 0 || (unit == 0u && u32(ny) % pg.stride != 0u)) { continue; }
    var oy = u32(ny);
    if (unit == 0u) { oy /= pg.stride; }
    if (oy >= pg.oh) { continue; }
    for (var kx = 0u; kx < pg.kw; kx++) {
      let nx = i32(ix + pg.pad) - i32(kx);
      if (nx < 0 || (unit == 0u && u32(nx) % pg.stride != 0u)) { continue; }
      var ox = u32(nx);
      if (unit == 0u) { ox /= pg.stride; }
      if (ox >= pg.ow) { continue; }
      let p = (img * pg.oh + oy) * pg.ow + ox;
      if (p < pg.r0 || p >= r1) { continue; }
      acc += ci_col[(p - pg.r0) * kk + (ky * pg.kw + kx) * pg.cin + ci];
    }
  }
  if (img < pg.accBelow) { acc += ci_x[xi]; }
  ci_x[xi] = acc;
}

// ---- The same two kernels on vec4 channel groups, for cin % 4 == 0 (every VGG layer but the first):
// a quarter of the index arithmetic and 16-byte loads and stores. Fields as above, counts in vec4s.
@group(0) @binding(2) var<uniform> pc4: Params;
@group(0) @binding(0) var<storage, read> ic4_x: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> ic4_col: array<vec4f>;

@compute @workgroup_size(WG)
fn im2col_f32x4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pc4.total) { return; }
  let c4 = pc4.cin / 4u;
  let kk = pc4.kh * pc4.kw * c4;
  let row = idx / kk;
  let col = idx % kk;
  let ci = col % c4;
  let tap = col / c4;
  let kx = tap % pc4.kw;
  let ky = tap / pc4.kw;
  let p = pc4.r0 + row;
  let per = pc4.oh * pc4.ow;
  let img = p / per;
  let q = p % per;
  let iy = i32((q / pc4.ow) * pc4.stride + ky) - i32(pc4.pad);
  let ix = i32((q % pc4.ow) * pc4.stride + kx) - i32(pc4.pad);
  var v = vec4f(0.0);
  if (iy >= 0 && iy < i32(pc4.h) && ix >= 0 && ix < i32(pc4.w)) {
    v = ic4_x[((img * pc4.h + u32(iy)) * pc4.w + u32(ix)) * c4 + ci];
  }
  ic4_col[idx] = v;
}

@group(0) @binding(2) var<uniform> pg4: Params;
@group(0) @binding(0) var<storage, read> ci4_col: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> ci4_x: array<vec4f>;

@compute @workgroup_size(WG)
fn col2im_f32x4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= pg4.total) { return; }
  let c4 = pg4.cin / 4u;
  let xi = pg4.img0 * pg4.h * pg4.w * c4 + idx;
  let ci = xi % c4;
  let pix = xi / c4;
  let ix = pix % pg4.w;
  let iy = (pix / pg4.w) % pg4.h;
  let img = pix / (pg4.w * pg4.h);
  let kk = pg4.kh * pg4.kw * c4;
  let r1 = pg4.r0 + pg4.rows;
  let unit = select(0u, 1u, pg4.stride == 1u); // stride 1 (uniform): no divisions
  var acc = vec4f(0.0);
  for (var ky = 0u; ky < pg4.kh; ky++) {
    let ny = i32(iy + pg4.pad) - i32(ky);
    if (ny < 0 || (unit == 0u && u32(ny) % pg4.stride != 0u)) { continue; }
    var oy = u32(ny);
    if (unit == 0u) { oy /= pg4.stride; }
    if (oy >= pg4.oh) { continue; }
    for (var kx = 0u; kx < pg4.kw; kx++) {
      let nx = i32(ix + pg4.pad) - i32(kx);
      if (nx < 0 || (unit == 0u && u32(nx) % pg4.stride != 0u)) { continue; }
      var ox = u32(nx);
      if (unit == 0u) { ox /= pg4.stride; }
      if (ox >= pg4.ow) { continue; }
      let p = (img * pg4.oh + oy) * pg4.ow + ox;
      if (p < pg4.r0 || p >= r1) { continue; }
      acc += ci4_col[(p - pg4.r0) * kk + (ky * pg4.kw + kx) * c4 + ci];
    }
  }
  if (img < pg4.accBelow) { acc += ci4_x[xi]; }
  ci4_x[xi] = acc;
}

// ---- Column sums of a [rows, cols] matrix (a convolution's bias gradient, db = sum of dy over n, oh, ow)
// in two passes so that many workgroups share the rows: partial[s, c] over row slice s, then
// db[c] = beta*db[c] + sum_s partial[s, c]. Fields: rows = matrix rows, w = cols, h = rows per slice,
// n = slices; pass 2 reads beta's bits from p0.
@group(0) @binding(2) var<uniform> ps: Params;
@group(0) @binding(0) var<storage, read> cs_m: array<f32>;
@group(0) @binding(1) var<storage, read_write> cs_part: array<f32>;

@compute @workgroup_size(WG)
fn col_sum_partial_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_id) lid: vec3u) {
  let idx = invocation(wid, nwg, lid);
  if (idx >= ps.total) { return; }
  let c = idx % ps.w;
  let s = idx / ps.w;
  let start = s * ps.h;
  let end = min(start + ps.h, ps.rows);
  var acc = 0.0;
  for (var r = start; r < end; r++) { acc += cs_m[r * ps.w + c]; }
  cs_part[idx] = acc;
}

@group(0) @binding(2) var<uniform> pf: Params;
@group(0) @binding(0) var<storage, read> cf_part: array<f32>;
@group(0) @binding(1) var<storage, read_write> cf_db: array<f32>;

@compute @workgroup_size(WG)
fn col_sum_final_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_id) lid: vec3u) {
  let c = invocation(wid, nwg, lid);
  if (c >= pf.w) { return; }
  var acc = 0.0;
  for (var s = 0u; s < pf.n; s++) { acc += cf_part[s * pf.w + c]; }
  let beta = bitcast<f32>(pf.p0);
  if (beta != 0.0) { acc += beta * cf_db[c]; }
  cf_db[c] = acc;
}
