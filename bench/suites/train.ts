// Train bench suite: end-to-end SGD steps of VGG-11 / VGG-16 at 32x32, batch 64 (images/s and peak memory).
import type { Backend } from '../../src/backend.js';
import { Model, singleBackendPlan } from '../../src/nn/model.js';
import { type VggConfigName, paramCount, vggSpec } from '../../src/nn/vgg.js';
import { type BenchRecord, type Suite, type SuiteContext, measure } from '../record.js';
import { syntheticTraining } from '../synthetic_step.js';
import { studyPlans } from './train_plans.js';

const BATCH = 64;

/** Training FLOPs per image: 3x the forward conv + FC multiply-adds (forward, backward-data, backward-filter). */
function trainFlopsPerImage(spec: ReturnType<typeof vggSpec>): number {
  let f = 0;
  for (const l of spec.layers) {
    if (l.kind === 'conv') f += 2 * l.in.h * l.in.w * l.in.c * l.cout * l.k * l.k;
    if (l.kind === 'linear') f += 2 * l.in.c * l.out;
  }
  return 3 * f;
}

async function benchModel(be: Backend, label: string, threads: number, config: VggConfigName, quick: boolean, log: (m: string) => void,
  fc = 4096): Promise<BenchRecord> {
  // The paper's network on CIFAR-size input: small-input head (512 features -> FC-4096, FC-4096, FC-10);
  // fc = 512 is the head common CIFAR VGG recipes use, reported apart (shape suffix _fc512).
  const spec = vggSpec({ config, inputSize: 32, numClasses: 10, classifierWidth: fc });
  const model = new Model(spec, singleBackendPlan(be));
  const training = syntheticTraining(model, BATCH);
  try {
    let peakRss = process.memoryUsage().rss, lastLoss = NaN;
    const step = async () => {
      lastLoss = await training.step();
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    };
    // A software GPU takes seconds per step: one timed step after the two warm-ups there.
    const sampling = be.name === 'webgpu' ? { minSamples: 1, maxSamples: 1, maxMs: 0 }
      : quick ? { minSamples: 3, maxSamples: 3, maxMs: 0 } : { minSamples: 5, maxSamples: 10, maxMs: 30000 };
    const m = await measure(step, sampling);
    const imgS = (BATCH * 1000) / m.medianMs;
    const mem = be.memory();
    const shape = `vgg${config === 'A' ? 11 : config === 'B' ? 13 : config === 'D' ? 16 : 19}_32x32_n${BATCH}${fc === 4096 ? '' : `_fc${fc}`}`;
    log(`  train_step ${shape} ${label}: ${m.medianMs.toFixed(0)} ms/step, ${imgS.toFixed(1)} img/s, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
    return {
      suite: 'train', kernel: 'train_step', shape, backend: label, algo: 'default-plan', threads, median_ms: m.medianMs,
      gflops: (trainFlopsPerImage(spec) * BATCH) / (m.medianMs * 1e6), max_rel_err: NaN, warmup_ms: m.firstMs,
      extra: {
        images_per_s: imgS, batch: BATCH, params: paramCount(spec), peak_rss_mib: peakRss / 2 ** 20,
        backend_peak_mib: mem.peakBytes / 2 ** 20, backend_reserved_mib: mem.reservedBytes / 2 ** 20,
        algos: spec.layers.flatMap((l) => (l.kind === 'conv' ? [`${l.name}:${l.algo}`] : [])).join(' '),
        last_loss: lastLoss, samples_ms: m.samples, description: be.description,
        head: `small-input: flatten 512 -> FC-${fc}, FC-${fc} (dropout 0.5), FC-10`,
      },
    };
  } finally {
    training.opt.dispose();
    model.dispose();
  }
}

export const trainSuite: Suite = {
  name: 'train',
  async run(ctx: SuiteContext): Promise<BenchRecord[]> {
    const out: BenchRecord[] = [];
    // Training through a software GPU takes seconds per step: WebGPU rows only in full runs, VGG-11 only.
    const backends = ctx.backends.filter((b) => (ctx.quick ? b.backend.name === 'wasm' && b.threads === Math.max(...ctx.backends.map((x) => x.threads)) : true));
    const models: VggConfigName[] = ctx.quick ? ['A'] : ['A', 'D'];
    for (const b of ctx.quick ? backends.slice(0, 1) : backends) {
      for (const config of b.backend.name === 'webgpu' ? models.slice(0, 1) : models) {
        try {
          out.push(await benchModel(b.backend, b.label, b.threads, config, ctx.quick, ctx.log));
        } catch (e) {
          ctx.log(`  train_step vgg-${config} on ${b.label} failed: ${(e as Error).message}`);
        }
      }
      // The planner's bars as whole training steps: auto against every single-algorithm plan and against its
      // neighbours (one layer/pass changed), all on one model, interleaved (issue #5; see train_plans.ts).
      const mostThreads = Math.max(...ctx.backends.filter((x) => x.backend.name === 'wasm').map((x) => x.threads));
      if (b.backend.name === 'wasm' && b.algoTag !== 'simd' && b.threads === mostThreads) {
        try { out.push(...await studyPlans(b.backend, b.label, b.threads, ctx.quick, ctx.log)); } catch (e) {
          ctx.log(`  plan study on ${b.label} failed: ${(e as Error).stack ?? e}`);
        }
      }
      if (!ctx.quick && b.backend.name === 'wasm') {
        try { out.push(await benchModel(b.backend, b.label, b.threads, 'A', false, ctx.log, 512)); } catch (e) {
          ctx.log(`  train_step vgg-A fc512 on ${b.label} failed: ${(e as Error).message}`);
        }
      }
    }
    return out;
  },
};
