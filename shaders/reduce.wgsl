// Reductions: sum of a vector (two passes: per-workgroup partials, then one workgroup over the partials)
// and column sums of a [rows, cols] matrix (bias gradient; partials over row blocks, then a combine with beta).
// Workgroup tree reductions keep the f32 rounding error near log2(n) ulps instead of n.

override WG: u32 = 128u;   // power of two
override COLS: u32 = 16u;  // colsum: columns per workgroup (consecutive threads read consecutive columns)
override LANES: u32 = 8u;  // colsum: row lanes per workgroup; COLS * LANES <= 128

var<workgroup> red: array<f32, WG>;

fn treeSum(li: u32) {
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (li < s) { red[li] += red[li + s]; }
  }
}

// ---- sum: pass 1 writes part[g] = sum of x over workgroup g's grid-stride share -------------------------
struct SumParams { length: u32, groups: u32 }
@group(0) @binding(0) var<storage, read> sumX: array<f32>;
@group(0) @binding(1) var<storage, read_write> sumPart: array<f32>;
@group(0) @binding(2) var<uniform> sumP: SumParams;

@compute @workgroup_size(WG)
fn reduce_sum_f32_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  for (var i = wid.x * WG + li; i < sumP.length; i += sumP.groups * WG) { s += sumX[i]; }
  red[li] = s;
  treeSum(li);
  if (li == 0u) { sumPart[wid.x] = red[0]; }
}

// ---- sum: pass 2, one workgroup: out[outOff] = sum of part[0..groups) -----------------------------------
struct CombineParams { groups: u32 }
@group(0) @binding(0) var<storage, read> cmbPart: array<f32>;
@group(0) @binding(1) var<storage, read_write> cmbOut: array<f32>;
@group(0) @binding(2) var<uniform> cmbP: CombineParams;

@compute @workgroup_size(WG)
fn reduce_sum_f32_combine(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  for (var i = li; i < cmbP.groups; i += WG) { s += cmbPart[i]; }
  red[li] = s;
  treeSum(li);
  if (li == 0u) { cmbOut[0] = red[0]; }
}

// ---- column sums: part[blk * cols + c] = sum over rows of block blk (grid: x = column groups, y = blocks)
struct ColParams { rows: u32, cols: u32, rowsPerBlock: u32, beta: f32, blocks: u32 }
@group(0) @binding(0) var<storage, read> colX: array<f32>;
@group(0) @binding(1) var<storage, read_write> colPart: array<f32>;
@group(0) @binding(2) var<uniform> colP: ColParams;

var<workgroup> colRed: array<f32, COLS * LANES>;

@compute @workgroup_size(COLS, LANES)
fn reduce_colsum_f32_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x * COLS + lid.x;
  let r0 = wid.y * colP.rowsPerBlock;
  let r1 = min(colP.rows, r0 + colP.rowsPerBlock);
  var s = 0.0;
  if (c < colP.cols) {
    for (var r = r0 + lid.y; r < r1; r += LANES) { s += colX[r * colP.cols + c]; }
  }
  colRed[lid.y * COLS + lid.x] = s;
  for (var h = LANES / 2u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (lid.y < h) { colRed[lid.y * COLS + lid.x] += colRed[(lid.y + h) * COLS + lid.x]; }
  }
  if (lid.y == 0u && c < colP.cols) { colPart[wid.y * colP.cols + c] = colRed[lid.x]; }
}

// ---- column sums, combine: dst[c] = beta * dst[c] + sum over blocks (beta 0 overwrites) -----------------
@group(0) @binding(0) var<storage, read> ccPart: array<f32>;
@group(0) @binding(1) var<storage, read_write> ccDst: array<f32>;
@group(0) @binding(2) var<uniform> ccP: ColParams;

@compute @workgroup_size(WG)
fn reduce_colsum_f32_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = wid.x * WG + li;
  if (c >= ccP.cols) { return; }
  var s = 0.0;
  for (var b = 0u; b < ccP.blocks; b++) { s += ccPart[b * ccP.cols + c]; }
  if (ccP.beta != 0.0) { s = fma(ccP.beta, ccDst[c], s); }
  ccDst[c] = s;
}
