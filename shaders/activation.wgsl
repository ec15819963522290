// Elementwise activations: ReLU forward/backward, bias add, inverted dropout with the shared counter RNG.
// 1-D kernels: element i = (wid.x + wid.y * num_workgroups.x) * WG + local index (grid1d() on the host).
// *_inplace entry points bind an aliased input/output once (WebGPU forbids binding it twice).

override WG: u32 = 64u;

fn index(wid: vec3<u32>, nw: vec3<u32>, li: u32) -> u32 { return (wid.x + wid.y * nw.x) * WG + li; }

struct N { length: u32 }

// ---- ReLU ---------------------------------------------------------------------------------------------
@group(0) @binding(0) var<storage, read> reluX: array<f32>;
@group(0) @binding(1) var<storage, read_write> reluY: array<f32>;
@group(0) @binding(2) var<uniform> reluN: N;

@compute @workgroup_size(WG)
fn activation_relu_f32_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                               @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < reluN.length) { reluY[i] = max(reluX[i], 0.0); }
}

@group(0) @binding(0) var<storage, read_write> reluXY: array<f32>;
@group(0) @binding(1) var<uniform> reluInN: N;

@compute @workgroup_size(WG)
fn activation_relu_f32_forward_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                                       @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < reluInN.length) { reluXY[i] = max(reluXY[i], 0.0); }
}

@group(0) @binding(0) var<storage, read> rbY: array<f32>;
@group(0) @binding(1) var<storage, read> rbDy: array<f32>;
@group(0) @binding(2) var<storage, read_write> rbDx: array<f32>;
@group(0) @binding(3) var<uniform> rbN: N;

@compute @workgroup_size(WG)
fn activation_relu_f32_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                                @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < rbN.length) { rbDx[i] = select(0.0, rbDy[i], rbY[i] > 0.0); }
}

@group(0) @binding(0) var<storage, read> rbiY: array<f32>;
@group(0) @binding(1) var<storage, read_write> rbiDyDx: array<f32>;
@group(0) @binding(2) var<uniform> rbiN: N;

@compute @workgroup_size(WG)
fn activation_relu_f32_backward_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                                        @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < rbiN.length) { rbiDyDx[i] = select(0.0, rbiDyDx[i], rbiY[i] > 0.0); }
}

// ---- bias add: y[r, c] += bias[c] ----------------------------------------------------------------------
struct BiasParams { length: u32, cols: u32 }
@group(0) @binding(0) var<storage, read_write> baY: array<f32>;
@group(0) @binding(1) var<storage, read> baBias: array<f32>;
@group(0) @binding(2) var<uniform> baP: BiasParams;

@compute @workgroup_size(WG)
fn activation_bias_add_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                           @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < baP.length) { baY[i] = baY[i] + baBias[i % baP.cols]; }
}

// ---- dropout: the counter-based RNG of src/backends/reference/rng.ts, bit for bit ---------------------
// mix32 = lowbias32; bits(i) = mix32(mix32(i ^ key) + key); keep iff (bits >> 8) >= threshold, where key,
// threshold = ceil(p * 2^24) and keepScale = f32(1 / (1 - p)) come from the host (computed in float64).
fn mix32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u; x *= 0x7feb352du;
  x ^= x >> 15u; x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

struct DropParams { length: u32, key: u32, threshold: u32, keepScale: f32 }

fn dropMask(i: u32, p: DropParams) -> f32 {
  let bits = mix32(mix32(i ^ p.key) + p.key);
  return select(0.0, p.keepScale, (bits >> 8u) >= p.threshold);
}

@group(0) @binding(0) var<storage, read> dfX: array<f32>;
@group(0) @binding(1) var<storage, read_write> dfY: array<f32>;
@group(0) @binding(2) var<storage, read_write> dfMask: array<f32>;
@group(0) @binding(3) var<uniform> dfP: DropParams;

@compute @workgroup_size(WG)
fn activation_dropout_f32_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                                  @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < dfP.length) {
    let m = dropMask(i, dfP);
    dfMask[i] = m;
    dfY[i] = dfX[i] * m;
  }
}

@group(0) @binding(0) var<storage, read_write> dfiXY: array<f32>;
@group(0) @binding(1) var<storage, read_write> dfiMask: array<f32>;
@group(0) @binding(2) var<uniform> dfiP: DropParams;

@compute @workgroup_size(WG)
fn activation_dropout_f32_forward_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                                          @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < dfiP.length) {
    let m = dropMask(i, dfiP);
    dfiMask[i] = m;
    dfiXY[i] = dfiXY[i] * m;
  }
}

@group(0) @binding(0) var<storage, read> dbDy: array<f32>;
@group(0) @binding(1) var<storage, read> dbMask: array<f32>;
@group(0) @binding(2) var<storage, read_write> dbDx: array<f32>;
@group(0) @binding(3) var<uniform> dbN: N;

@compute @workgroup_size(WG)
fn activation_dropout_f32_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                                   @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < dbN.length) { dbDx[i] = dbDy[i] * dbMask[i]; }
}

@group(0) @binding(0) var<storage, read_write> dbiDyDx: array<f32>;
@group(0) @binding(1) var<storage, read> dbiMask: array<f32>;
@group(0) @binding(2) var<uniform> dbiN: N;

@compute @workgroup_size(WG)
fn activation_dropout_f32_backward_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                                           @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < dbiN.length) { dbiDyDx[i] = dbiDyDx[i] * dbiMask[i]; }
}
