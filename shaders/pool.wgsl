// 2x2 stride-2 max pooling over NHWC (odd trailing rows/columns are dropped, as floor() says).
// Forward: one thread per output element. Backward: one thread per input element, which finds its
// window's first maximum (row-major, strict >) and takes dy if it is that element, else 0; elements
// outside every window get 0. So dx is fully written in one pass with no atomics and no prior clear.

override WG: u32 = 64u;

fn index(wid: vec3<u32>, nw: vec3<u32>, li: u32) -> u32 { return (wid.x + wid.y * nw.x) * WG + li; }

struct PoolParams { n: u32, h: u32, w: u32, c: u32, oh: u32, ow: u32, total: u32 }

@group(0) @binding(0) var<storage, read> fX: array<f32>;
@group(0) @binding(1) var<storage, read_write> fY: array<f32>;
@group(0) @binding(2) var<uniform> fP: PoolParams;

@compute @workgroup_size(WG)
fn pool_maxpool2x2_f32_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                               @builtin(local_invocation_index) li: u32) {
  let o = index(wid, nw, li);
  if (o >= fP.total) { return; }
  let ch = o % fP.c;
  let pix = o / fP.c;
  let ox = pix % fP.ow;
  let oy = (pix / fP.ow) % fP.oh;
  let b = pix / (fP.ow * fP.oh);
  let i00 = ((b * fP.h + 2u * oy) * fP.w + 2u * ox) * fP.c + ch;
  let i10 = i00 + fP.w * fP.c;
  var m = fX[i00];
  let v01 = fX[i00 + fP.c]; if (v01 > m) { m = v01; }
  let v10 = fX[i10]; if (v10 > m) { m = v10; }
  let v11 = fX[i10 + fP.c]; if (v11 > m) { m = v11; }
  fY[o] = m;
}

@group(0) @binding(0) var<storage, read> bX: array<f32>;
@group(0) @binding(1) var<storage, read> bDy: array<f32>;
@group(0) @binding(2) var<storage, read_write> bDx: array<f32>;
@group(0) @binding(3) var<uniform> bP: PoolParams;

@compute @workgroup_size(WG)
fn pool_maxpool2x2_f32_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                                @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i >= bP.total) { return; }
  let ch = i % bP.c;
  let pix = i / bP.c;
  let x = pix % bP.w;
  let y = (pix / bP.w) % bP.h;
  let b = pix / (bP.w * bP.h);
  let ox = x / 2u;
  let oy = y / 2u;
  var g = 0.0;
  if (ox < bP.ow && oy < bP.oh) {
    let i00 = ((b * bP.h + 2u * oy) * bP.w + 2u * ox) * bP.c + ch;
    let i10 = i00 + bP.w * bP.c;
    var best = i00;
    if (bX[i00 + bP.c] > bX[best]) { best = i00 + bP.c; }
    if (bX[i10] > bX[best]) { best = i10; }
    if (bX[i10 + bP.c] > bX[best]) { best = i10 + bP.c; }
    if (best == i) { g = bDy[((b * bP.oh + oy) * bP.ow + ox) * bP.c + ch]; }
  }
  bDx[i] = g;
}
