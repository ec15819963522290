// Softmax cross-entropy with label smoothing (target = (1-eps) onehot + eps/classes), labels stored as f32.
// Forward: one thread per row (max, sum of exp, log-sum-exp). Backward: one thread per logit.
// A label that is not a class index yields NaN (loss row / gradient row): the host cannot check GPU data
// before the kernel runs, and NaN makes the error visible instead of training on a wrong class.

override WG: u32 = 64u;

fn index(wid: vec3<u32>, nw: vec3<u32>, li: u32) -> u32 { return (wid.x + wid.y * nw.x) * WG + li; }

struct XentParams { n: u32, classes: u32, smoothing: f32, scale: f32 }

fn labelOf(l: f32, classes: u32) -> i32 {
  if (l >= 0.0 && l < f32(classes) && floor(l) == l) { return i32(l); }
  return -1;
}

@group(0) @binding(0) var<storage, read> fLogits: array<f32>;
@group(0) @binding(1) var<storage, read> fLabels: array<f32>;
@group(0) @binding(2) var<storage, read_write> fProbs: array<f32>;
@group(0) @binding(3) var<storage, read_write> fLoss: array<f32>;
@group(0) @binding(4) var<uniform> fP: XentParams;

@compute @workgroup_size(WG)
fn loss_softmax_xent_f32_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                                 @builtin(local_invocation_index) li: u32) {
  let row = index(wid, nw, li);
  if (row >= fP.n) { return; }
  let o = row * fP.classes;
  var m = fLogits[o];
  var sz = 0.0;
  for (var j = 0u; j < fP.classes; j++) { let z = fLogits[o + j]; m = max(m, z); sz += z; }
  var s = 0.0;
  for (var j = 0u; j < fP.classes; j++) { s += exp(fLogits[o + j] - m); }
  let inv = 1.0 / s;
  for (var j = 0u; j < fP.classes; j++) { fProbs[o + j] = exp(fLogits[o + j] - m) * inv; }
  let lse = m + log(s);
  let label = labelOf(fLabels[row], fP.classes);
  if (label < 0) {
    fLoss[row] = bitcast<f32>(0x7fc00000u | (row & 0u)); // NaN (runtime: a const NaN is a WGSL error)
  } else {
    fLoss[row] = lse - (1.0 - fP.smoothing) * fLogits[o + u32(label)] - (fP.smoothing / f32(fP.classes)) * sz;
  }
}

@group(0) @binding(0) var<storage, read> bProbs: array<f32>;
@group(0) @binding(1) var<storage, read> bLabels: array<f32>;
@group(0) @binding(2) var<storage, read_write> bDlogits: array<f32>;
@group(0) @binding(3) var<uniform> bP: XentParams;

@compute @workgroup_size(WG)
fn loss_softmax_xent_f32_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                                  @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i >= bP.n * bP.classes) { return; }
  let row = i / bP.classes;
  let j = i % bP.classes;
  let label = labelOf(bLabels[row], bP.classes);
  var t = bP.smoothing / f32(bP.classes);
  if (i32(j) == label) { t += 1.0 - bP.smoothing; }
  var d = bP.scale * (bProbs[i] - t);
  if (label < 0) { d = bitcast<f32>(0x7fc00000u | (i & 0u)); }
  bDlogits[i] = d;
}
