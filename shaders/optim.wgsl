// Optimizer and elementwise update kernels: SGD (torch semantics), axpby, fill.
// 1-D kernels: workgroup index = wid.x + wid.y * num_workgroups.x (grid1d() folds large counts into y).

override WG: u32 = 64u;

struct FillParams { length: u32, value: f32 }
@group(0) @binding(0) var<storage, read_write> fillX: array<f32>;
@group(0) @binding(1) var<uniform> fp: FillParams;

@compute @workgroup_size(WG)
fn optim_fill_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nw.x) * WG + li;
  if (i < fp.length) { fillX[i] = fp.value; }
}

fn index(wid: vec3<u32>, nw: vec3<u32>, li: u32) -> u32 { return (wid.x + wid.y * nw.x) * WG + li; }

// ---- axpby: y = alpha * x + beta * y (beta 0 overwrites y, NaN included) --------------------------------
struct AxpbyParams { length: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> axX: array<f32>;
@group(0) @binding(1) var<storage, read_write> axY: array<f32>;
@group(0) @binding(2) var<uniform> axP: AxpbyParams;

@compute @workgroup_size(WG)
fn optim_axpby_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < axP.length) {
    var v = axP.alpha * axX[i];
    if (axP.beta != 0.0) { v = fma(axP.beta, axY[i], v); }
    axY[i] = v;
  }
}

@group(0) @binding(0) var<storage, read_write> axiXY: array<f32>;
@group(0) @binding(1) var<uniform> axiP: AxpbyParams;

@compute @workgroup_size(WG)
fn optim_axpby_f32_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                           @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < axiP.length) {
    let x = axiXY[i];
    var v = axiP.alpha * x;
    if (axiP.beta != 0.0) { v = fma(axiP.beta, x, v); }
    axiXY[i] = v;
  }
}

// ---- SGD as torch.optim.SGD: g' = g + wd*w; v = momentum*v + g'; w -= lr * (nesterov ? g' + momentum*v : v)
struct SgdParams { length: u32, lr: f32, momentum: f32, weightDecay: f32, nesterov: u32 }
@group(0) @binding(0) var<storage, read_write> sgdW: array<f32>;
@group(0) @binding(1) var<storage, read> sgdG: array<f32>;
@group(0) @binding(2) var<storage, read_write> sgdV: array<f32>;
@group(0) @binding(3) var<uniform> sgdP: SgdParams;

@compute @workgroup_size(WG)
fn optim_sgd_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i < sgdP.length) {
    let w = sgdW[i];
    let gp = fma(sgdP.weightDecay, w, sgdG[i]);
    let v = fma(sgdP.momentum, sgdV[i], gp);
    sgdV[i] = v;
    let step = select(v, fma(sgdP.momentum, v, gp), sgdP.nesterov != 0u);
    sgdW[i] = w - sgdP.lr * step;
  }
}
