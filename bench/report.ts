// Writes bench results: <suite>.json (records + environment), <suite>.md tables, and one self-contained
// report.html (inline SVG charts against the measured ceilings and peers, speed-ups vs tfjs-wasm, every row).
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Plan, formatPlan } from '../src/runtime/planner.js';
import { CIFAR_CONV_LAYERS, IMAGENET_CONV_LAYERS } from '../src/runtime/shapes.js';
import { softwareGpu } from './backends.js';
import type { BenchRecord } from './record.js';

export interface BenchEnvironment {
  /** Same value for every suite written by one `bench/run` invocation: ratios are only fair within a run. */
  runId: string;
  date: string;
  cpu: string;
  cpuCount: number;
  node: string;
  v8: string;
  platform: string;
  /** wasm builds available to this engine ('relaxed', 'simd'). */
  wasmBuilds: string[];
  /** Which kernel binaries ran: build -> 'sha256:<12 hex> (<KiB> KiB)'. */
  wasmFiles?: Record<string, string>;
  /** Description of every backend measured (Backend.description by label). */
  backends: Record<string, string>;
  gpu?: string;
  quick: boolean;
  /** Backends or suites that could not run, and why. */
  notes: string[];
}

export interface SuiteResult {
  suite: string;
  /** The latest run that wrote this file. */
  environment: BenchEnvironment;
  /** Every run whose rows the file holds (merged files, `--merge`); each row names its run in extra.run_id. */
  runs?: BenchEnvironment[];
  records: BenchRecord[];
  /** Set when the suite failed to load or threw; records then hold what was measured before. */
  error?: string;
  wallMs?: number;
}

export function collectEnvironment(partial: Pick<BenchEnvironment, 'runId' | 'wasmBuilds' | 'backends' | 'quick' | 'notes'> & { gpu?: string; wasmFiles?: Record<string, string> }): BenchEnvironment {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cpuCount: cpus.length,
    node: process.versions.node,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    ...partial,
  };
}

// ---------- reference lines (../shared/ANCHORS.md, measured on this project's 2-core machine) ----------

interface RefLine { value: number; label: string; kind: 'ceiling' | 'peer' }
const CEILINGS: RefLine[] = [
  { value: 44, label: 'wasm mul+add ceiling 1T (44)', kind: 'ceiling' },
  { value: 58, label: 'wasm FMA ceiling 1T (58)', kind: 'ceiling' },
  { value: 85, label: 'wasm mul+add ceiling 2T (85)', kind: 'ceiling' },
  { value: 110, label: 'wasm FMA ceiling 2T (110)', kind: 'ceiling' },
];
/** Memory bandwidth seen from wasm here (../shared/ENVIRONMENT.md): the roof of memory-bound kernels. */
const BANDWIDTH: RefLine[] = [
  { value: 20, label: 'wasm DRAM bandwidth 1T (17-24 GB/s)', kind: 'ceiling' },
  { value: 90, label: 'wasm L2-resident bandwidth (~90 GB/s)', kind: 'ceiling' },
];

/** What a chart plots: GFLOP/s, or GB/s for memory-bound rows that carry extra.gb_per_s and no FLOP count. */
interface Metric { unit: string; of(r: BenchRecord): number }
const GFLOPS: Metric = { unit: 'GFLOP/s', of: (r) => r.gflops };
const GBPS: Metric = { unit: 'GB/s', of: (r) => (typeof r.extra?.gb_per_s === 'number' ? r.extra.gb_per_s : NaN) };
const plotted = (m: Metric) => (r: BenchRecord) => { const v = m.of(r); return Number.isFinite(v) && v > 0; };
const metricOf = (r: BenchRecord): Metric | undefined => (plotted(GFLOPS)(r) ? GFLOPS : plotted(GBPS)(r) ? GBPS : undefined);

const PEERS: Record<string, RefLine[]> = {
  gemm: [
    { value: 180, label: 'PyTorch 1T GEMM 1024 (180)', kind: 'peer' },
    { value: 348, label: 'PyTorch 2T GEMM 1024 (348)', kind: 'peer' },
  ],
  conv2d_forward: [
    { value: 190, label: 'PyTorch 1T conv fwd (190-207)', kind: 'peer' },
    { value: 338, label: 'PyTorch 2T conv fwd (338-346)', kind: 'peer' },
  ],
};

// ---------- merging runs (--merge) ----------

const labelOf = (r: BenchRecord): string =>
  typeof r.extra?.label === 'string' ? r.extra.label : typeof r.extra?.description === 'string' ? r.extra.description : '';

/** A row's identity: a later run's row with the same key replaces it. */
export function rowKey(r: BenchRecord): string {
  return [r.suite, r.kernel, r.shape, r.backend, r.algo, r.threads, labelOf(r)].join('\u0000');
}

/** The run a row came from (extra.run_id, else the file's latest run). */
export const runOf = (r: BenchRecord, file: SuiteResult): string =>
  typeof r.extra?.run_id === 'string' ? r.extra.run_id : file.environment.runId;

/** `now` written over `old`: rows of `now` replace the rows of `old` with the same key (same kernel, shape,
 *  backend label, algorithm, threads) in place; every other old row stays (other backends, and the cases a
 *  filtered run did not measure), so a slow backend can be measured in chunks next to the others' rows.
 *  Every row gets extra.run_id and the file lists every run it holds rows of. */
export function mergeSuiteResults(old: SuiteResult | undefined, now: SuiteResult): SuiteResult {
  const tag = (r: BenchRecord, f: SuiteResult): BenchRecord => ({ ...r, extra: { ...r.extra, run_id: runOf(r, f) } });
  const fresh = now.records.map((r) => tag(r, now));
  if (!old || old.suite !== now.suite) {
    const used = new Set(fresh.map((r) => r.extra!.run_id as string));
    return { ...now, records: fresh, runs: [...(now.runs ?? []).filter((e) => used.has(e.runId) && e.runId !== now.environment.runId), now.environment] };
  }
  const byKey = new Map(fresh.map((r) => [rowKey(r), r]));
  const records: BenchRecord[] = [];
  for (const r of old.records) {
    const k = rowKey(r), repl = byKey.get(k);
    if (repl) { records.push(repl); byKey.delete(k); } else records.push(tag(r, old));
  }
  records.push(...fresh.filter((r) => byKey.has(rowKey(r))));
  const used = new Set(records.map((r) => r.extra!.run_id as string));
  const runs = new Map<string, BenchEnvironment>();
  for (const e of [...(old.runs ?? [old.environment]), ...(now.runs ?? []), now.environment]) {
    if (used.has(e.runId) || e === now.environment) runs.set(e.runId, e);
  }
  return { suite: now.suite, environment: now.environment, runs: [...runs.values()], records, error: now.error, wallMs: now.wallMs };
}

// ---------- helpers ----------

const esc = (s: unknown) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v: number | undefined, digits = 2) => (v === undefined || v === null ? '' : Number.isFinite(v) ? v.toFixed(digits) : String(v));
const fmtX = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(2)}x`);
/** NaN (not checked) is stored as null in JSON: both print as '-'. */
const fmtErr = (v: number | null) => (v === null || v === undefined || Number.isNaN(v) ? '-' : Number.isFinite(v) ? v.toExponential(1) : String(v));

/** The row's series name: the bench label when a suite kept it in extra.label, else backend and threads. */
export function seriesOf(r: BenchRecord): string {
  const label = typeof r.extra?.label === 'string' ? r.extra.label : `${r.backend}-t${r.threads}`;
  const build = typeof r.extra?.build === 'string' && !label.includes(r.extra.build) ? ` ${r.extra.build}` : '';
  return `${label}${build} ${r.algo}`;
}

/** Series names for a chart: rows that would share a bar (same shape and series) get '#2', '#3'... */
function seriesNames(rows: BenchRecord[]): string[] {
  const seen = new Map<string, number>();
  return rows.map((r) => {
    const base = seriesOf(r), k = `${r.shape}\u0000${base}`;
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    return n === 1 ? base : `${base} #${n}`;
  });
}

const SHAPE_CIN = new Map([...CIFAR_CONV_LAYERS, ...IMAGENET_CONV_LAYERS].map((l) => [l.id, l.shape.cin]));
const CIFAR_IDS = new Set(CIFAR_CONV_LAYERS.map((l) => l.id));

// ---------- Markdown ----------

const MD_HEADER = '| kernel | shape | backend | algo | threads | median ms | GFLOP/s | GB/s | max rel err | first/warm-up ms | compile ms | timing |\n|---|---|---|---|---|---|---|---|---|---|---|---|';

/** How the row's median was timed, on how many samples, and the process's CPU share while sampling
 *  ('gpu-timestamp x3, cpu 1.9': below the row's thread count means others used the cores meanwhile). */
function timingText(r: BenchRecord): string {
  const src = typeof r.extra?.timing === 'string' ? r.extra.timing : '';
  const n = typeof r.extra?.samples === 'number' ? r.extra.samples : undefined;
  const cpu = typeof r.extra?.cpu_share === 'number' ? `, cpu ${r.extra.cpu_share.toFixed(1)}` : '';
  return `${src || 'wall'}${n !== undefined ? ` x${n}` : ''}${cpu}`;
}

/** The backend cell: the row label, with the adapter's software rasterizer said out loud. */
function backendText(r: BenchRecord): string {
  // Rows written before suites kept a label carry the wasm build and threads in a short description.
  const desc = typeof r.extra?.description === 'string' && r.extra.description.length < 40 ? r.extra.description : undefined;
  const label = typeof r.extra?.label === 'string' ? r.extra.label : desc ?? r.backend;
  const sw = r.backend === 'webgpu' && typeof r.extra?.description === 'string' ? softwareGpu(r.extra.description) : undefined;
  return sw && !label.includes('software') ? `${label} (software GPU)` : label;
}

/** One line for results holding WebGPU rows from a software adapter: what those figures are. */
export function softwareGpuNote(records: BenchRecord[]): string | undefined {
  const descs = [...new Set(records.filter((r) => r.backend === 'webgpu').map((r) => String(r.extra?.description ?? '')))].filter((d) => softwareGpu(d));
  if (!descs.length) return undefined;
  return `WebGPU rows marked "software GPU" ran on ${descs.join('; ')}: a software rasterizer (Mesa lavapipe/llvmpipe or SwiftShader) ` +
    'executing the WGSL kernels on the same CPU cores as the wasm rows. They show that every kernel runs and what it costs there, ' +
    'not how fast a GPU is.';
}
const gbText = (r: BenchRecord) => { const v = GBPS.of(r); return Number.isFinite(v) ? v.toFixed(1) : ''; };

function mdRow(r: BenchRecord): string {
  return `| ${r.kernel} | ${r.shape} | ${backendText(r)} | ${r.algo} | ${r.threads} | ${fmt(r.median_ms, 3)} | ${fmt(r.gflops, 1)} | ${gbText(r)} | ${fmtErr(r.max_rel_err)} | ${fmt(r.warmup_ms, 1)} | ${fmt(r.compile_ms, 1)} | ${timingText(r)} |`;
}

function mdEnvironment(e: BenchEnvironment): string {
  const lines = [
    `- date: ${e.date} (run ${e.runId}${e.quick ? ', --quick' : ''})`,
    `- CPU: ${e.cpu} x ${e.cpuCount}; ${e.platform}; Node ${e.node}, V8 ${e.v8}`,
    `- wasm builds: ${e.wasmBuilds.join(', ') || 'none'}${e.wasmFiles ? ` (${Object.entries(e.wasmFiles).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}; GPU: ${e.gpu ?? 'none'}`,
    ...Object.entries(e.backends).map(([k, v]) => `- backend ${k}: ${v}`),
    ...e.notes.map((n) => `- NOTE: ${n}`),
  ];
  return lines.join('\n');
}

/** The environment block of a suite file: its latest run, then every earlier run it still holds rows of. */
function mdEnvironments(res: SuiteResult): string {
  const others = (res.runs ?? []).filter((e) => e.runId !== res.environment.runId);
  const count = (id: string) => res.records.filter((r) => runOf(r, res) === id).length;
  const parts = [mdEnvironment(res.environment)];
  if (others.length) parts[0] += `\n- rows of this run: ${count(res.environment.runId)}`;
  for (const e of others) parts.push(`Earlier run kept in this file (${count(e.runId)} rows):\n${mdEnvironment(e)}`);
  return parts.join('\n\n');
}

/** Plans that suites attached to a row (the plan suite): printed as the planner's table. */
function plansIn(records: BenchRecord[]): string[] {
  return records.map((r) => r.extra?.plan as Plan | undefined).filter((p): p is Plan => !!p && Array.isArray(p.layers)).map(formatPlan);
}

export function renderMarkdown(result: SuiteResult): string {
  const parts = [`# vggrt bench: ${result.suite}`, '', mdEnvironments(result), ''];
  const sw = softwareGpuNote(result.records);
  if (sw) parts.push(`**Note:** ${sw}`, '');
  if (result.error) parts.push(`**Suite error:** ${result.error}`, '');
  if (result.records.length === 0) parts.push('_No rows._');
  else parts.push(MD_HEADER, ...result.records.map(mdRow));
  for (const p of plansIn(result.records)) parts.push('', '```', p, '```');
  return parts.join('\n') + '\n';
}

// ---------- speed-ups vs tfjs-wasm ----------

export interface SpeedupRow {
  kernel: string; shape: string; tfjsMs: number; tfjsThreads: number;
  /** Best vggrt row on the same thread count as tfjs (the fair comparison) and the best on any. */
  sameThreads?: BenchRecord; best?: BenchRecord;
  speedupSame?: number; speedupBest?: number;
  /** tfjs and vggrt calls alternated in the tfjs suite (same thread count): the figure the bar is judged on when present. */
  alternated?: { series: string; algo: string; speedup: number };
  /** Whether the issue #5 bar (>= 3x on CIFAR layers with >= 64 input channels) applies and holds. */
  bar?: 'pass' | 'FAIL' | 'n/a' | 'no data';
  sameRun: boolean;
}

export function speedups(results: SuiteResult[]): SpeedupRow[] {
  const all = results.flatMap((s) => s.records.map((r) => ({ r, runId: runOf(r, s) })));
  const peers = all.filter(({ r }) => r.backend === 'tfjs-wasm');
  // tfjs's matmul is the plain product: compare with vggrt's non-transposed GEMM rows only.
  const ours = all.filter(({ r }) => r.backend !== 'tfjs-wasm' && r.backend !== 'reference' && Number.isFinite(r.median_ms) && r.median_ms > 0 &&
    (r.extra?.trans ?? 'NN') === 'NN');
  return peers.map(({ r: p, runId }) => {
    const same = ours.filter(({ r }) => r.kernel === p.kernel && r.shape === p.shape);
    const pick = (xs: typeof same) => xs.reduce<(typeof same)[number] | undefined>((b, x) => (!b || x.r.median_ms < b.r.median_ms ? x : b), undefined);
    const bestSame = pick(same.filter(({ r }) => r.threads === p.threads));
    const best = pick(same);
    const row: SpeedupRow = {
      kernel: p.kernel, shape: p.shape, tfjsMs: p.median_ms, tfjsThreads: p.threads,
      sameThreads: bestSame?.r, best: best?.r,
      speedupSame: bestSame ? p.median_ms / bestSame.r.median_ms : undefined,
      speedupBest: best ? p.median_ms / best.r.median_ms : undefined,
      sameRun: !!bestSame && bestSame.runId === runId && (!best || best.runId === runId),
    };
    const alt = p.extra?.vggrt_alternated as SpeedupRow['alternated'] | undefined;
    if (alt) row.alternated = alt;
    const judged = alt?.speedup ?? row.speedupSame;
    const barApplies = p.kernel === 'conv2d_forward' && CIFAR_IDS.has(p.shape) && (SHAPE_CIN.get(p.shape) ?? 0) >= 64;
    row.bar = !barApplies ? 'n/a' : judged === undefined ? 'no data' : judged >= 3 ? 'pass' : 'FAIL';
    return row;
  });
}

const altText = (s: SpeedupRow) => (s.alternated ? `${fmtX(s.alternated.speedup)} (${s.alternated.series} ${s.alternated.algo})` : '-');

function speedupMarkdown(rows: SpeedupRow[]): string {
  const head = '| kernel | shape | tfjs-wasm ms (threads) | vggrt same threads: series, ms | speed-up | vggrt best: series, ms | speed-up | call for call, same threads | >=3x bar | same run |\n|---|---|---|---|---|---|---|---|---|---|';
  const body = rows.map((s) => `| ${s.kernel} | ${s.shape} | ${fmt(s.tfjsMs, 3)} (${s.tfjsThreads}) | ${s.sameThreads ? `${seriesOf(s.sameThreads)}, ${fmt(s.sameThreads.median_ms, 3)}` : 'not measured'} | ${fmtX(s.speedupSame)} | ${s.best ? `${seriesOf(s.best)}, ${fmt(s.best.median_ms, 3)}` : 'not measured'} | ${fmtX(s.speedupBest)} | ${altText(s)} | ${s.bar} | ${!s.sameThreads ? '-' : s.sameRun ? 'yes' : 'NO'} |`);
  return [head, ...body].join('\n');
}

// ---------- 2-thread speed-ups (issue #2) ----------

/** One row per conv (shape, pass, wasm build) whose 2-thread best row carries the alternated 1-vs-2-thread speed-up
 *  (bench/suites/conv.ts): the cells, in the order of SCALING_HEAD. */
export function scalingRows(results: SuiteResult[]): string[][] {
  const rows = results.flatMap((s) => s.records).filter((r) => r.suite === 'conv' && typeof r.extra?.speedup_vs_t1_alternated === 'number');
  return rows.map((r) => {
    const x = r.extra!.speedup_vs_t1_alternated as number, barApplies = (SHAPE_CIN.get(r.shape) ?? 0) >= 64;
    const host = r.extra!.copies_ceiling as number | undefined, share = r.extra!.speedup_of_ceiling as number | undefined;
    const cores = r.extra!.t1_other_core_ratio as number | undefined, cold = r.extra!.speedup_cold_start as number | undefined;
    return [r.kernel, r.shape, String(r.extra!.label ?? r.backend), `${r.extra!.speedup_t1_algo} / ${r.algo}`, fmtX(x),
      !barApplies ? 'n/a' : x > 2.05 ? 'pass (above 2x: more cache on two cores, or the host slowed the 1-thread calls; see the ceiling)' : x >= 1.8 ? 'pass' : 'FAIL',
      cold !== undefined ? fmtX(cold) : '-',
      fmtX(host), share !== undefined ? `${Math.round(100 * share)}%` : host ? `${Math.round((100 * x) / host)}%` : '-',
      cores !== undefined ? fmtX(cores) : '-'];
  });
}
/** Column 5: the median over the rounds of warm 1- against 2-thread calls, each right after itself (older rows: calls
 *  after other calls, see bench/suites/conv.ts). Column 7: the same with both calls started cold, right after a
 *  64 MB cache flush (older rows: '-'). Columns 8 and 9: the same 1-thread call as two independent copies at once against one alone, timed in each
 *  round of the pairs (bench/copies.ts): what an evenly shared 2-thread split of that kernel could reach then; and
 *  the median over the rounds of each round's speed-up over its own ceiling (older rows: the ratio of the medians).
 *  The last: the 1-thread call's time on the other core over its time on this thread's (median over the rounds;
 *  the speed-up is taken against the time at their mean speed), far from 1x where the host ran one core slower
 *  (older rows: '-'). */
const SCALING_HEAD = ['kernel', 'shape', '2-thread series', 'algorithm 1 / 2 threads', 'speed-up (alternated calls)', '>=1.8x bar',
  'speed-up, calls started cold (after a cache flush)', 'ceiling: two 1-thread copies at once (same window)', 'speed-up / ceiling (median of the rounds\' own)',
  '1-thread call: other core / this core'];
const scalingMarkdown = (rows: string[][]) => [`| ${SCALING_HEAD.join(' | ')} |`, `|${SCALING_HEAD.map(() => '---').join('|')}|`,
  ...rows.map((c) => `| ${c.join(' | ')} |`)].join('\n');
const scalingHtml = (rows: string[][]) => rows.length === 0 ? '<p>No alternated speed-ups in these results (conv suite on 1 and 2 threads).</p>'
  : `<table><tr>${SCALING_HEAD.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((c) => `<tr>${c.map((v, i) =>
    `<td${i === 5 && (v.startsWith('pass') || v === 'FAIL') ? ` class="${v.startsWith('pass') ? 'pass' : 'fail'}"` : ''}>${esc(v)}</td>`).join('')}</tr>`).join('')}</table>`;

// ---------- SVG charts ----------

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
  '#393b79', '#637939', '#8c6d31', '#843c39', '#7b4173', '#3182bd'];

/** Grouped bar chart: one group per shape, one bar per series, dashed lines for ceilings and peers. */
export function barChartSvg(title: string, records: BenchRecord[], lines: RefLine[], metric: Metric = GFLOPS): string {
  const rows = records.filter(plotted(metric));
  const names = seriesNames(rows);
  const shapes = [...new Set(rows.map((r) => r.shape))];
  const series = [...new Set(names)].sort();
  const barW = 9, groupGap = 18, left = 56, top = 28, plotH = 260;
  const groupW = Math.max(series.length * barW, 40) + groupGap;
  const legendW = 300;
  const plotW = Math.max(shapes.length * groupW, 200);
  const width = left + plotW + 20 + legendW, height = top + plotH + 110;
  const yMax = Math.max(1, ...rows.map(metric.of), ...lines.map((l) => l.value)) * 1.08;
  const y = (v: number) => top + plotH - (v / yMax) * plotH;
  const out: string[] = [`<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${esc(title)}">`,
    `<text x="${left}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`];
  const step = yMax > 400 ? 100 : yMax > 150 ? 50 : yMax > 40 ? 10 : yMax > 10 ? 5 : 1;
  for (let v = 0; v <= yMax; v += step) {
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
      `<text x="${left - 4}" y="${y(v) + 4}" font-size="10" text-anchor="end">${v}</text>`);
  }
  out.push(`<text x="12" y="${top + plotH / 2}" font-size="11" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle">${metric.unit}</text>`);
  shapes.forEach((shape, gi) => {
    const gx = left + gi * groupW + groupGap / 2;
    series.forEach((s, si) => {
      const r = rows.find((x, xi) => x.shape === shape && names[xi] === s);
      if (!r) return;
      const v = metric.of(r), h = top + plotH - y(v);
      out.push(`<rect x="${gx + si * barW}" y="${y(v)}" width="${barW - 1}" height="${h}" fill="${PALETTE[si % PALETTE.length]}"><title>${esc(`${shape} ${s}: ${v.toFixed(1)} ${metric.unit}, ${r.median_ms.toFixed(3)} ms`)}</title></rect>`);
    });
    out.push(`<text x="${gx}" y="${top + plotH + 12}" font-size="10" transform="rotate(30 ${gx} ${top + plotH + 12})">${esc(shape)}</text>`);
  });
  [...lines].sort((a, b) => a.value - b.value).forEach((l, li) => {
    const color = l.kind === 'ceiling' ? '#555' : '#c00';
    // Alternate label ends so close lines (44 and 58) do not print over each other.
    const [lx, anchor] = li % 2 === 0 ? [left + plotW - 2, 'end'] : [left + 4, 'start'];
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(l.value)}" y2="${y(l.value)}" stroke="${color}" stroke-dasharray="5 3"/>`,
      `<text x="${lx}" y="${y(l.value) - 2}" font-size="9" fill="${color}" text-anchor="${anchor}">${esc(l.label)}</text>`);
  });
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#000"/>`,
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#000"/>`);
  series.forEach((s, si) => {
    const lx = left + plotW + 20, ly = top + si * 14;
    out.push(`<rect x="${lx}" y="${ly}" width="10" height="10" fill="${PALETTE[si % PALETTE.length]}"/>`,
      `<text x="${lx + 14}" y="${ly + 9}" font-size="10">${esc(s)}</text>`);
  });
  if (rows.length === 0) out.push(`<text x="${left + 10}" y="${top + 20}" font-size="12">no ${metric.unit} rows</text>`);
  out.push('</svg>');
  return out.join('\n');
}

// ---------- HTML ----------

/** One chart per kernel, unless a suite groups rows under extra.chart. */
const chartOf = (r: BenchRecord) => (typeof r.extra?.chart === 'string' ? r.extra.chart : r.kernel);

function htmlTable(records: BenchRecord[]): string {
  const head = '<tr><th>kernel</th><th>shape</th><th>backend</th><th>algo</th><th>threads</th><th>median ms</th><th>GFLOP/s</th><th>GB/s</th><th>max rel err</th><th>first/warm-up ms</th><th>compile ms</th><th>timing</th></tr>';
  const body = records.map((r) => `<tr><td>${esc(r.kernel)}</td><td>${esc(r.shape)}</td><td>${esc(backendText(r))}</td><td>${esc(r.algo)}</td><td>${r.threads}</td><td>${fmt(r.median_ms, 3)}</td><td>${fmt(r.gflops, 1)}</td><td>${gbText(r)}</td><td>${esc(fmtErr(r.max_rel_err))}</td><td>${fmt(r.warmup_ms, 1)}</td><td>${fmt(r.compile_ms, 1)}</td><td>${esc(timingText(r))}</td></tr>`);
  return `<table>${head}${body.join('')}</table>`;
}

function speedupHtml(rows: SpeedupRow[]): string {
  if (rows.length === 0) return '<p>No tfjs-wasm rows in these results (run the tfjs suite).</p>';
  const head = '<tr><th>kernel</th><th>shape</th><th>tfjs-wasm ms (threads)</th><th>vggrt, same threads</th><th>speed-up</th><th>vggrt, best</th><th>speed-up</th><th>call for call, same threads</th><th>&ge;3x bar</th><th>same run</th></tr>';
  const body = rows.map((s) => `<tr><td>${esc(s.kernel)}</td><td>${esc(s.shape)}</td><td>${fmt(s.tfjsMs, 3)} (${s.tfjsThreads})</td>` +
    `<td>${s.sameThreads ? esc(`${seriesOf(s.sameThreads)}: ${fmt(s.sameThreads.median_ms, 3)} ms`) : 'not measured'}</td><td>${fmtX(s.speedupSame)}</td>` +
    `<td>${s.best ? esc(`${seriesOf(s.best)}: ${fmt(s.best.median_ms, 3)} ms`) : 'not measured'}</td><td>${fmtX(s.speedupBest)}</td><td>${esc(altText(s))}</td>` +
    `<td class="${s.bar === 'FAIL' ? 'fail' : s.bar === 'pass' ? 'pass' : ''}">${s.bar}</td><td>${!s.sameThreads ? '-' : s.sameRun ? 'yes' : 'NO'}</td></tr>`);
  return `<table>${head}${body.join('')}</table>`;
}

/** Best row per (shape, backend label) of one kernel across every suite: vggrt's best algorithm next to tfjs. */
function bestPerBackend(results: SuiteResult[], kernel: string): BenchRecord[] {
  const best = new Map<string, BenchRecord>();
  for (const r of results.flatMap((x) => x.records)) {
    if (r.kernel !== kernel || !(r.gflops > 0) || (r.extra?.trans ?? 'NN') !== 'NN' || !SHAPE_CIN.has(r.shape) && kernel !== 'gemm') continue;
    const label = typeof r.extra?.label === 'string' ? r.extra.label
      : typeof r.extra?.description === 'string' && r.extra.description.length < 40 ? r.extra.description : `${r.backend}-t${r.threads}`;
    const key = `${r.shape}\u0000${label}`, cur = best.get(key);
    if (!cur || r.gflops > cur.gflops) best.set(key, { ...r, algo: 'best', extra: { ...r.extra, label } });
  }
  return [...best.values()];
}

export function renderHtml(results: SuiteResult[]): string {
  const sections = results.map((res) => {
    const groups = new Map<string, { metric: Metric; rows: BenchRecord[] }>();
    for (const r of res.records) {
      const m = metricOf(r);
      if (!m) continue;
      const key = `${chartOf(r)}\u0000${m.unit}`;
      if (!groups.has(key)) groups.set(key, { metric: m, rows: [] });
      groups.get(key)!.rows.push(r);
    }
    const charts = [...groups.values()].map(({ metric, rows }) => {
      const k = chartOf(rows[0]);
      const note = metric === GFLOPS && k.includes('conv') ? '; direct-conv FLOP count for every algorithm' : '';
      const lines = metric === GFLOPS ? [...CEILINGS, ...(PEERS[k] ?? [])] : BANDWIDTH;
      return barChartSvg(`${res.suite}: ${k} (${metric.unit}${note})`, rows, lines, metric);
    });
    if (charts.length === 0) charts.push(barChartSvg(`${res.suite}: no GFLOP/s or GB/s rows`, [], CEILINGS));
    const e = res.environment, sw = softwareGpuNote(res.records);
    const earlier = (res.runs ?? []).filter((x) => x.runId !== e.runId)
      .map((x) => `<p class="env">also rows of run ${esc(x.runId)} (${esc(x.date)}${x.quick ? ', --quick' : ''}; ${esc(Object.keys(x.backends).join(', '))})</p>`).join('');
    return `<section id="suite-${esc(res.suite)}"><h2>${esc(res.suite)}</h2>` +
      `<p class="env">${esc(e.date)} · run ${esc(e.runId)}${e.quick ? ' · --quick' : ''}${res.wallMs ? ` · ${(res.wallMs / 1000).toFixed(1)} s` : ''}</p>` + earlier +
      (sw ? `<p class="note">${esc(sw)}</p>` : '') +
      (res.error ? `<p class="fail">Suite error: ${esc(res.error)}</p>` : '') +
      `<div class="charts">${charts.join('\n')}</div>` +
      plansIn(res.records).map((p) => `<pre>${esc(p)}</pre>`).join('') +
      `<details open><summary>${res.records.length} rows</summary>${htmlTable(res.records)}</details></section>`;
  });
  const env = results[0]?.environment;
  const envHtml = env ? `<ul>${mdEnvironment(env).split('\n').map((l) => `<li>${esc(l.replace(/^- /, ''))}</li>`).join('')}</ul>` : '<p>No results.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vggrt bench report</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ccc; padding: 2px 6px; font-size: 12px; text-align: right; }
th { background: #f4f4f4; } td:first-child, td:nth-child(2), td:nth-child(3) { text-align: left; }
.note { background: #fff6d5; padding: 4px 8px; } .fail { color: #b00; font-weight: bold; } .pass { color: #070; } .env { color: #666; } .charts svg { display: block; margin: .5em 0; }
</style></head><body>
<h1>vggrt bench report</h1>
<h3>Environment</h3>${envHtml}
<p>Dashed grey lines: wasm throughput ceilings measured on this machine (44/58 GFLOP/s on 1 thread, 85/110 on 2; mul+add/FMA).
Dashed red lines: PyTorch 1.13 (oneDNN, AVX-512) on the same machine. Absolute figures drift on a shared machine: compare ratios within one run.</p>
${((sw) => (sw ? `<p class="note">${esc(sw)}</p>` : ''))(softwareGpuNote(results.flatMap((r) => r.records)))}
<h2>Speed-up over TensorFlow.js wasm</h2>
${speedupHtml(speedups(results))}
<h2>2-thread speed-up (1- and 2-thread calls alternated)</h2>
${scalingHtml(scalingRows(results))}
${['conv2d_forward', 'gemm'].map((k) => barChartSvg(`${k}: best algorithm per backend, all suites (GFLOP/s)`, bestPerBackend(results, k), [...CEILINGS, ...(PEERS[k] ?? [])])).join('\n')}
${sections.join('\n')}
</body></html>
`;
}

// ---------- files ----------

export async function writeSuiteResult(outDir: string, result: SuiteResult): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, `${result.suite}.json`), JSON.stringify(result, null, 1) + '\n');
  await writeFile(path.join(outDir, `${result.suite}.md`), renderMarkdown(result));
}

/** Every <suite>.json in outDir (suites not run this time keep their earlier file; the report marks runs). */
export async function readSuiteResults(outDir: string): Promise<SuiteResult[]> {
  let names: string[];
  try { names = await readdir(outDir); } catch { return []; }
  const out: SuiteResult[] = [];
  for (const n of names.filter((f) => f.endsWith('.json')).sort()) {
    try {
      const v = JSON.parse(await readFile(path.join(outDir, n), 'utf8')) as SuiteResult;
      if (v && typeof v.suite === 'string' && Array.isArray(v.records) && v.environment) out.push(v);
    } catch { /* not a suite result file */ }
  }
  return out;
}

/** 'wasm-relaxed-t1 40 rows/5 shapes, webgpu-lavapipe 120 rows/10 shapes': what each backend label covers. */
function rowsByLabel(r: SuiteResult): string {
  const n = new Map<string, { rows: number; shapes: Set<string> }>();
  for (const x of r.records) {
    const l = backendText(x);
    if (!n.has(l)) n.set(l, { rows: 0, shapes: new Set() });
    n.get(l)!.rows++;
    n.get(l)!.shapes.add(x.shape);
  }
  return [...n].map(([l, c]) => `${l} ${c.rows} rows/${c.shapes.size} shapes`).join(', ');
}

/** report.html and report.md (the speed-up table) over the given suite results. */
export async function writeReport(outDir: string, results: SuiteResult[]): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'report.html'), renderHtml(results));
  const sw = softwareGpuNote(results.flatMap((r) => r.records));
  const md = ['# vggrt bench report', '', results[0] ? mdEnvironment(results[0].environment) : '', '', ...(sw ? [`**Note:** ${sw}`, ''] : []),
    '## Speed-up over TensorFlow.js wasm', '', speedupMarkdown(speedups(results)), '',
    '## 2-thread speed-up (1- and 2-thread calls alternated)', '', scalingMarkdown(scalingRows(results)), '',
    ...results.map((r) => `- ${r.suite}: ${r.records.length} rows (${rowsByLabel(r)}), run ${r.environment.runId} at ${r.environment.date}` +
      `${(r.runs?.length ?? 1) > 1 ? ` with rows of ${r.runs!.length - 1} earlier run(s)` : ''}${r.error ? ` (error: ${r.error})` : ''}`), ''];
  await writeFile(path.join(outDir, 'report.md'), md.join('\n'));
}
