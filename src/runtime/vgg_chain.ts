// Turns a VGG description (the config table of src/nn/vgg.ts, or its layer spec) into the chain of conv layers
// the planner tunes, so the trainer and the bench plan the same layers under the same ids.
import type { ConvShape } from '../backend.js';
import type { ModelConvLayer } from './tune.js';

/** A VGG config item: conv output channels, [c, 1] a 1x1 conv, 'M' a max pool, 'LRN' (shape-neutral). */
export type ConfigItem = number | readonly [number, number] | string;

/** Conv layers of a VGG config at a square input; ids follow torchvision's 'features.<index>' names. */
export function vggConvChain(config: readonly ConfigItem[], o: { batch: number; inputSize: number; inChannels?: number; batchNorm?: boolean }): ModelConvLayer[] {
  const out: ModelConvLayer[] = [];
  let c = o.inChannels ?? 3, hw = o.inputSize, index = 0;
  for (const item of config) {
    if (item === 'M') { hw = Math.floor(hw / 2); index++; continue; }
    if (typeof item === 'string') { index++; continue; }
    const [cout, k] = typeof item === 'number' ? [item, 3] : [item[0], item[1]];
    const shape: ConvShape = { n: o.batch, h: hw, w: hw, cin: c, cout, kh: k, kw: k, stride: 1, pad: k === 3 ? 1 : 0 };
    // The first conv needs no gradient for its input (the images).
    out.push({ id: `features.${index}`, shape, inputGrad: out.length > 0 });
    index += o.batchNorm ? 3 : 2; // conv (+ bn) + relu, as torchvision numbers them
    c = cout;
  }
  return out;
}

/** Conv layers of a layer spec such as src/nn/vgg.ts's VggSpec.layers (anything with kind 'conv', name, in, cout, k). */
export function convChainOfSpec(layers: readonly { kind: string; name: string; in?: { h: number; w: number; c: number }; cout?: number; k?: number }[], batch: number): ModelConvLayer[] {
  const convs = layers.filter((l) => l.kind === 'conv');
  return convs.map((l, i) => {
    const k = l.k ?? 3;
    return { id: l.name, inputGrad: i > 0, shape: { n: batch, h: l.in!.h, w: l.in!.w, cin: l.in!.c, cout: l.cout!, kh: k, kw: k, stride: 1, pad: k === 3 ? 1 : 0 } };
  });
}
