// Batch norm (train / eval / backward) over channels of [rows, c] NHWC data, and cross-channel LRN.
//
// Batch norm works on a per-channel parameter block P (a workspace the operator fills, partly by buffer
// copies, so that no entry point binds more than 4 storage buffers, the compatibility-mode limit):
//   P[0c..1c) gamma  P[1c..2c) beta  P[2c..3c) mean  P[3c..4c) scale = gamma * invstd
//   P[4c..5c) var (biased)  P[5c..6c) invstd  P[6c..7c) mean of dy  P[7c..8c) mean of dy * xhat
// Column statistics are summed per block of rows (grid y) into partials, then combined per channel.
// Variance uses sums shifted by the channel's first value (x[0, ch]), which avoids the cancellation of
// E[x^2] - E[x]^2 when the mean is large against the spread.

override WG: u32 = 64u;
override COLS: u32 = 16u;  // channels per statistics workgroup
override LANES: u32 = 8u;  // row lanes per statistics workgroup (COLS * LANES <= 128, LANES a power of 2)

fn index(wid: vec3<u32>, nw: vec3<u32>, li: u32) -> u32 { return (wid.x + wid.y * nw.x) * WG + li; }

struct BnParams { rows: u32, c: u32, rowsPerBlock: u32, blocks: u32, eps: f32, momentum: f32, accumulate: f32, total: u32 }

var<workgroup> red1: array<f32, COLS * LANES>;
var<workgroup> red2: array<f32, COLS * LANES>;

fn reduceLanes(lid: vec3<u32>) {
  for (var h = LANES / 2u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (lid.y < h) {
      red1[lid.y * COLS + lid.x] += red1[(lid.y + h) * COLS + lid.x];
      red2[lid.y * COLS + lid.x] += red2[(lid.y + h) * COLS + lid.x];
    }
  }
}

// ---- train, pass 1: part[blk*2c + ch] = sum (x - shift), part[blk*2c + c + ch] = sum (x - shift)^2,
//      part[blocks*2c + ch] = shift = x[0, ch]
@group(0) @binding(0) var<storage, read> stX: array<f32>;
@group(0) @binding(1) var<storage, read_write> stPart: array<f32>;
@group(0) @binding(2) var<uniform> stP: BnParams;

@compute @workgroup_size(COLS, LANES)
fn norm_bn_f32_stats_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = stP.c;
  let ch = wid.x * COLS + lid.x;
  var s1 = 0.0;
  var s2 = 0.0;
  if (ch < c) {
    let shift = stX[ch];
    let r1 = min(stP.rows, (wid.y + 1u) * stP.rowsPerBlock);
    for (var r = wid.y * stP.rowsPerBlock + lid.y; r < r1; r += LANES) {
      let d = stX[r * c + ch] - shift;
      s1 += d;
      s2 = fma(d, d, s2);
    }
    if (wid.y == 0u && lid.y == 0u) { stPart[stP.blocks * 2u * c + ch] = shift; }
  }
  red1[lid.y * COLS + lid.x] = s1;
  red2[lid.y * COLS + lid.x] = s2;
  reduceLanes(lid);
  if (lid.y == 0u && ch < c) {
    stPart[wid.y * 2u * c + ch] = red1[lid.x];
    stPart[wid.y * 2u * c + c + ch] = red2[lid.x];
  }
}

// ---- train, pass 2 (one thread per channel): mean, biased var, invstd into P, saveMean, saveInvstd
@group(0) @binding(0) var<storage, read> fiPart: array<f32>;
@group(0) @binding(1) var<storage, read_write> fiP: array<f32>;
@group(0) @binding(2) var<storage, read_write> fiSaveMean: array<f32>;
@group(0) @binding(3) var<storage, read_write> fiSaveInvstd: array<f32>;
@group(0) @binding(4) var<uniform> fiU: BnParams;

@compute @workgroup_size(WG)
fn norm_bn_f32_train_finalize(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = fiU.c;
  let ch = gid.x;
  if (ch >= c) { return; }
  var s1 = 0.0;
  var s2 = 0.0;
  for (var b = 0u; b < fiU.blocks; b++) { s1 += fiPart[b * 2u * c + ch]; s2 += fiPart[b * 2u * c + c + ch]; }
  let n = f32(fiU.rows);
  let dm = s1 / n;
  let v = max(0.0, (s2 - s1 * dm) / n);
  let mean = fiPart[fiU.blocks * 2u * c + ch] + dm;
  let invstd = 1.0 / sqrt(v + fiU.eps);
  fiP[2u * c + ch] = mean;
  fiP[3u * c + ch] = fiP[ch] * invstd;
  fiP[4u * c + ch] = v;
  fiP[5u * c + ch] = invstd;
  fiSaveMean[ch] = mean;
  fiSaveInvstd[ch] = invstd;
}

// ---- train, pass 3: running statistics as torch (unbiased variance)
@group(0) @binding(0) var<storage, read> ruP: array<f32>;
@group(0) @binding(1) var<storage, read_write> ruMean: array<f32>;
@group(0) @binding(2) var<storage, read_write> ruVar: array<f32>;
@group(0) @binding(3) var<uniform> ruU: BnParams;

@compute @workgroup_size(WG)
fn norm_bn_f32_running_update(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = ruU.c;
  let ch = gid.x;
  if (ch >= c) { return; }
  let m = ruU.momentum;
  let n = f32(ruU.rows);
  ruMean[ch] = (1.0 - m) * ruMean[ch] + m * ruP[2u * c + ch];
  ruVar[ch] = (1.0 - m) * ruVar[ch] + m * (ruP[4u * c + ch] * n / (n - 1.0));
}

// ---- eval, pass 1 (one thread per channel): scale = gamma / sqrt(runVar + eps) (P holds gamma, beta,
//      runMean at 2c and runVar at 4c, copied in by the operator)
@group(0) @binding(0) var<storage, read_write> evP: array<f32>;
@group(0) @binding(1) var<uniform> evU: BnParams;

@compute @workgroup_size(WG)
fn norm_bn_f32_eval_scale(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = evU.c;
  let ch = gid.x;
  if (ch >= c) { return; }
  evP[3u * c + ch] = evP[ch] / sqrt(evP[4u * c + ch] + evU.eps);
}

// ---- train and eval, last pass: y = (x - mean) * scale + beta
@group(0) @binding(0) var<storage, read> apX: array<f32>;
@group(0) @binding(1) var<storage, read_write> apY: array<f32>;
@group(0) @binding(2) var<storage, read> apP: array<f32>;
@group(0) @binding(3) var<uniform> apU: BnParams;

@compute @workgroup_size(WG)
fn norm_bn_f32_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i >= apU.total) { return; }
  let c = apU.c;
  let ch = i % c;
  apY[i] = fma(apX[i] - apP[2u * c + ch], apP[3u * c + ch], apP[c + ch]);
}

// ---- backward, pass 1: part[blk*2c + ch] = sum dy, part[blk*2c + c + ch] = sum dy * xhat
//      (P holds gamma at 0, saveMean at 2c, saveInvstd at 5c)
@group(0) @binding(0) var<storage, read> bpX: array<f32>;
@group(0) @binding(1) var<storage, read> bpDy: array<f32>;
@group(0) @binding(2) var<storage, read> bpP: array<f32>;
@group(0) @binding(3) var<storage, read_write> bpPart: array<f32>;
@group(0) @binding(4) var<uniform> bpU: BnParams;

@compute @workgroup_size(COLS, LANES)
fn norm_bn_f32_backward_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = bpU.c;
  let ch = wid.x * COLS + lid.x;
  var s1 = 0.0;
  var s2 = 0.0;
  if (ch < c) {
    let mean = bpP[2u * c + ch];
    let inv = bpP[5u * c + ch];
    let r1 = min(bpU.rows, (wid.y + 1u) * bpU.rowsPerBlock);
    for (var r = wid.y * bpU.rowsPerBlock + lid.y; r < r1; r += LANES) {
      let g = bpDy[r * c + ch];
      s1 += g;
      s2 = fma(g, (bpX[r * c + ch] - mean) * inv, s2);
    }
  }
  red1[lid.y * COLS + lid.x] = s1;
  red2[lid.y * COLS + lid.x] = s2;
  reduceLanes(lid);
  if (lid.y == 0u && ch < c) {
    bpPart[wid.y * 2u * c + ch] = red1[lid.x];
    bpPart[wid.y * 2u * c + c + ch] = red2[lid.x];
  }
}

// ---- backward, pass 2 (one thread per channel): dbeta, dgamma (beta-accumulated), means into P
@group(0) @binding(0) var<storage, read> bfPart: array<f32>;
@group(0) @binding(1) var<storage, read_write> bfP: array<f32>;
@group(0) @binding(2) var<storage, read_write> bfDgamma: array<f32>;
@group(0) @binding(3) var<storage, read_write> bfDbeta: array<f32>;
@group(0) @binding(4) var<uniform> bfU: BnParams;

@compute @workgroup_size(WG)
fn norm_bn_f32_backward_finalize(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = bfU.c;
  let ch = gid.x;
  if (ch >= c) { return; }
  var sdy = 0.0;
  var sdyx = 0.0;
  for (var b = 0u; b < bfU.blocks; b++) { sdy += bfPart[b * 2u * c + ch]; sdyx += bfPart[b * 2u * c + c + ch]; }
  let n = f32(bfU.rows);
  bfP[6u * c + ch] = sdy / n;
  bfP[7u * c + ch] = sdyx / n;
  let acc = bfU.accumulate;
  bfDbeta[ch] = select(sdy, fma(acc, bfDbeta[ch], sdy), acc != 0.0);
  bfDgamma[ch] = select(sdyx, fma(acc, bfDgamma[ch], sdyx), acc != 0.0);
}

// ---- backward, pass 3: dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
@group(0) @binding(0) var<storage, read> baX: array<f32>;
@group(0) @binding(1) var<storage, read> baDy: array<f32>;
@group(0) @binding(2) var<storage, read_write> baDx: array<f32>;
@group(0) @binding(3) var<storage, read> baP: array<f32>;
@group(0) @binding(4) var<uniform> baU: BnParams;

@compute @workgroup_size(WG)
fn norm_bn_f32_backward_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                              @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i >= baU.total) { return; }
  let c = baU.c;
  let ch = i % c;
  let inv = baP[5u * c + ch];
  let xhat = (baX[i] - baP[2u * c + ch]) * inv;
  baDx[i] = baP[ch] * inv * (baDy[i] - baP[6u * c + ch] - xhat * baP[7u * c + ch]);
}

// ---- LRN (torch.nn.LocalResponseNorm): window [i - lo, i + hi] over channels of a row
struct LrnParams { total: u32, c: u32, lo: u32, hi: u32, alpha: f32, beta: f32, k: f32, size: f32 }

@group(0) @binding(0) var<storage, read> lfX: array<f32>;
@group(0) @binding(1) var<storage, read_write> lfY: array<f32>;
@group(0) @binding(2) var<storage, read_write> lfScale: array<f32>;
@group(0) @binding(3) var<uniform> lfU: LrnParams;

@compute @workgroup_size(WG)
fn norm_lrn_f32_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                        @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i >= lfU.total) { return; }
  let ch = i % lfU.c;
  let row0 = i - ch;
  let j0 = select(0u, ch - lfU.lo, ch >= lfU.lo);
  let j1 = min(lfU.c - 1u, ch + lfU.hi);
  var s = 0.0;
  for (var j = j0; j <= j1; j++) { let v = lfX[row0 + j]; s = fma(v, v, s); }
  let sc = lfU.k + (lfU.alpha / lfU.size) * s;
  lfScale[i] = sc;
  lfY[i] = lfX[i] * pow(sc, -lfU.beta);
}

// ---- LRN backward, pass 1: t[i] = dy * y / scale, t[total + i] = dy * scale^-beta
@group(0) @binding(0) var<storage, read> l1Y: array<f32>;
@group(0) @binding(1) var<storage, read> l1Scale: array<f32>;
@group(0) @binding(2) var<storage, read> l1Dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> l1T: array<f32>;
@group(0) @binding(4) var<uniform> l1U: LrnParams;

@compute @workgroup_size(WG)
fn norm_lrn_f32_backward_prep(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                              @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i >= l1U.total) { return; }
  let sc = l1Scale[i];
  let g = l1Dy[i];
  l1T[i] = g * l1Y[i] / sc;
  l1T[l1U.total + i] = g * pow(sc, -l1U.beta);
}

// ---- LRN backward, pass 2: dx = dy * scale^-beta - (2 alpha beta / size) * x * sum over the windows
//      containing channel i, i.e. j in [i - hi, i + lo], of t[j]
@group(0) @binding(0) var<storage, read> l2X: array<f32>;
@group(0) @binding(1) var<storage, read> l2T: array<f32>;
@group(0) @binding(2) var<storage, read_write> l2Dx: array<f32>;
@group(0) @binding(3) var<uniform> l2U: LrnParams;

@compute @workgroup_size(WG)
fn norm_lrn_f32_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                         @builtin(local_invocation_index) li: u32) {
  let i = index(wid, nw, li);
  if (i >= l2U.total) { return; }
  let ch = i % l2U.c;
  let row0 = i - ch;
  let j0 = select(0u, ch - l2U.hi, ch >= l2U.hi);
  let j1 = min(l2U.c - 1u, ch + l2U.lo);
  var s = 0.0;
  for (var j = j0; j <= j1; j++) { s += l2T[row0 + j]; }
  let coef = 2.0 * l2U.alpha * l2U.beta / l2U.size;
  l2Dx[i] = l2T[l2U.total + i] - coef * l2X[i] * s;
}
