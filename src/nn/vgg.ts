// The VGG model zoo: Table 1 of Simonyan & Zisserman (A, A-LRN, B, C, D, E), BN variants, torchvision layout and names.
//
// A network is first described as a list of layer specs (shapes only, nothing allocated), so parameter
// counts of the 138M-parameter ImageNet models are computed from shapes; `buildVgg` turns a spec into a
// Model on the backends a plan gives.
import type { ConvAlgo } from '../backend.js';
import type { ActShape } from './layers.js';

export type VggConfigName = 'A' | 'A-LRN' | 'B' | 'C' | 'D' | 'E';
/** A conv with that many output channels (3x3), [c, 1] a 1x1 conv (config C), 'M' a max pool, 'LRN' a local response norm. */
export type CfgItem = number | [number, 1] | 'M' | 'LRN';

const S = (n: number, c: number): number[] => Array<number>(n).fill(c);
export const VGG_CONFIGS: Record<VggConfigName, readonly CfgItem[]> = {
  A: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  'A-LRN': [64, 'LRN', 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  B: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  C: [64, 64, 'M', 128, 128, 'M', 256, 256, [256, 1], 'M', 512, 512, [512, 1], 'M', 512, 512, [512, 1], 'M'],
  D: [64, 64, 'M', 128, 128, 'M', ...S(3, 256), 'M', ...S(3, 512), 'M', ...S(3, 512), 'M'],
  E: [64, 64, 'M', 128, 128, 'M', ...S(4, 256), 'M', ...S(4, 512), 'M', ...S(4, 512), 'M'],
};
export const VGG_CONFIG_NAMES = Object.keys(VGG_CONFIGS) as VggConfigName[];
/** torchvision's names for the configurations it ships. */
export const TORCHVISION_NAMES: Partial<Record<VggConfigName, string>> = { A: 'vgg11', B: 'vgg13', D: 'vgg16', E: 'vgg19' };

export interface VggOptions {
  config: VggConfigName | readonly CfgItem[];
  batchNorm?: boolean;
  /** Square input size (default 224). */
  inputSize?: number;
  inChannels?: number;
  numClasses?: number;
  /** Scales every conv width (rounded, at least 1) for small machines. */
  widthMultiplier?: number;
  /** Hidden FC width; default 4096 scaled by widthMultiplier. */
  classifierWidth?: number;
  /** Dropout after the two hidden FC layers (default 0.5, as the paper). */
  dropout?: number;
  /** 'torchvision': AdaptiveAvgPool2d((7,7)) then FC, exactly torchvision's VGG. Supported where the final
   *  map is 7x7 (224x224 input: the pool is the identity) or 1x1 (32x32 input: the pool repeats each feature
   *  49 times, folded into the first Linear, see Linear). 'small': flatten the final map into an FC of
   *  h*w*c inputs. 'auto' (default): 'torchvision' where it is supported, else 'small'. */
  head?: 'auto' | 'torchvision' | 'small';
  /** Conv algorithm per layer name (e.g. 'features.3') or by function; default: see defaultConvAlgo. */
  algo?: Record<string, ConvAlgo> | ((name: string, cin: number, k: number, hw: number) => ConvAlgo);
}

export type LayerSpec =
  | { kind: 'conv'; name: string; in: ActShape; cout: number; k: 1 | 3; relu: boolean; algo: ConvAlgo }
  | { kind: 'bn' | 'lrn' | 'maxpool' | 'avgpool' | 'flatten'; name: string; in: ActShape }
  | { kind: 'relu'; name: string; in: ActShape; fused: boolean }
  | { kind: 'linear'; name: string; in: ActShape; out: number; relu: boolean; /** torchvision repeats each input this many times */ repeat: number }
  | { kind: 'dropout'; name: string; in: ActShape; p: number };

export interface VggSpec {
  label: string;
  options: Required<Omit<VggOptions, 'algo'>> & { algo?: VggOptions['algo'] };
  layers: LayerSpec[];
  input: ActShape;
  numClasses: number;
  /** Feature map entering the classifier (after avgpool when present): the first Linear's columns follow it. */
  featureShape: ActShape;
  head: 'torchvision' | 'small';
}

/**
 * im2col for the first conv (3 input channels: Winograd's transforms cost more than they save) and 1x1
 * convs; winograd_map2x2 on 2x2 maps (9 tile products where im2col has 16 and F(2x2) 16 positions; F(4x4)'s
 * 6x6 tiles would be 8/9 padding); F(2x2,3x3) on 1x1 maps; F(4x4,3x3) elsewhere.
 * Measured on 512->512 2x2 at batch 64 (relaxed build, median of 15 alternated calls, 1 / 2 threads):
 * forward im2col 12.0 / 7.4 ms, F(2x2) 14.3 / 8.0, map2x2 8.4 / 5.3; data gradient 11.8 / 7.6, 16.3 / 10.0,
 * 8.4 / 5.5; filter gradient 11.2 / 7.9, 14.3 / 9.2, 8.1 / 5.9.
 */
export function defaultConvAlgo(_name: string, _cin: number, k: number, hw: number, first: boolean): ConvAlgo {
  if (first || k === 1) return 'im2col_gemm';
  return hw === 2 ? 'winograd_map2x2' : hw < 2 ? 'winograd_f2x2' : 'winograd_f4x4';
}

/** Describes a VGG network: every module with its torchvision name and input shape. Allocates nothing. */
export function vggSpec(o: VggOptions): VggSpec {
  const cfg = typeof o.config === 'string' ? VGG_CONFIGS[o.config] : o.config;
  if (!cfg) throw new Error(`unknown VGG configuration ${String(o.config)} (one of ${VGG_CONFIG_NAMES.join(', ')})`);
  const opts = {
    config: o.config, batchNorm: o.batchNorm ?? false, inputSize: o.inputSize ?? 224, inChannels: o.inChannels ?? 3,
    numClasses: o.numClasses ?? 1000, widthMultiplier: o.widthMultiplier ?? 1, classifierWidth: 0,
    dropout: o.dropout ?? 0.5, head: o.head ?? 'auto', algo: o.algo,
  };
  opts.classifierWidth = o.classifierWidth ?? Math.max(1, Math.round(4096 * opts.widthMultiplier));
  if (!(opts.widthMultiplier > 0)) throw new Error(`widthMultiplier must be > 0, got ${opts.widthMultiplier}`);
  if (!Number.isInteger(opts.inputSize) || opts.inputSize < 1) throw new Error(`inputSize must be a positive integer, got ${opts.inputSize}`);
  const layers: LayerSpec[] = [];
  let s: ActShape = { h: opts.inputSize, w: opts.inputSize, c: opts.inChannels };
  let idx = 0, convs = 0;
  for (const item of cfg) {
    const name = `features.${idx}`;
    if (item === 'M') {
      if (s.h < 2 || s.w < 2) throw new Error(`input ${opts.inputSize}x${opts.inputSize} is too small: max pool ${name} meets a ${s.h}x${s.w} map`);
      layers.push({ kind: 'maxpool', name, in: s }); s = { h: s.h >> 1, w: s.w >> 1, c: s.c }; idx++;
    } else if (item === 'LRN') {
      layers.push({ kind: 'lrn', name, in: s }); idx++;
    } else {
      const [c, k] = typeof item === 'number' ? [item, 3 as const] : [item[0], 1 as const];
      const cout = Math.max(1, Math.round(c * opts.widthMultiplier));
      const algo = pickAlgo(opts.algo, name, s.c, k, s.h, convs === 0);
      layers.push({ kind: 'conv', name, in: s, cout, k, relu: !opts.batchNorm, algo }); idx++;
      s = { h: s.h, w: s.w, c: cout };
      if (opts.batchNorm) { layers.push({ kind: 'bn', name: `features.${idx}`, in: s }); idx++; }
      layers.push({ kind: 'relu', name: `features.${idx}`, in: s, fused: !opts.batchNorm }); idx++;
      convs++;
    }
  }
  const torchvisionFits = (s.h === 7 && s.w === 7) || (s.h === 1 && s.w === 1);
  if (opts.head === 'torchvision' && !torchvisionFits) {
    throw new Error(`head 'torchvision' (AdaptiveAvgPool2d((7,7))) needs a 7x7 or 1x1 final feature map; input ${opts.inputSize}x${opts.inputSize} gives ${s.h}x${s.w}: use head 'small'`);
  }
  const head: 'torchvision' | 'small' = opts.head === 'auto' ? (torchvisionFits ? 'torchvision' : 'small') : opts.head;
  // On a 1x1 map torchvision's pool repeats each feature 49 times; FC1 sees each input 49 times.
  const repeat = head === 'torchvision' ? 49 / (s.h * s.w) : 1;
  if (head === 'torchvision') layers.push({ kind: 'avgpool', name: 'avgpool', in: s });
  const featureShape = s;
  layers.push({ kind: 'flatten', name: 'flatten', in: s });
  const W = opts.classifierWidth, flat: ActShape = { h: 1, w: 1, c: s.h * s.w * s.c };
  const vec = (c: number): ActShape => ({ h: 1, w: 1, c });
  layers.push({ kind: 'linear', name: 'classifier.0', in: flat, out: W, relu: true, repeat });
  layers.push({ kind: 'relu', name: 'classifier.1', in: vec(W), fused: true });
  layers.push({ kind: 'dropout', name: 'classifier.2', in: vec(W), p: opts.dropout });
  layers.push({ kind: 'linear', name: 'classifier.3', in: vec(W), out: W, relu: true, repeat: 1 });
  layers.push({ kind: 'relu', name: 'classifier.4', in: vec(W), fused: true });
  layers.push({ kind: 'dropout', name: 'classifier.5', in: vec(W), p: opts.dropout });
  layers.push({ kind: 'linear', name: 'classifier.6', in: vec(W), out: opts.numClasses, relu: false, repeat: 1 });
  const cfgLabel = typeof o.config === 'string' ? o.config : 'custom';
  const label = `vgg-${cfgLabel}${opts.batchNorm ? '_bn' : ''}${opts.widthMultiplier !== 1 ? `-w${opts.widthMultiplier}` : ''}-${opts.inputSize}px`;
  return { label, options: opts, layers, input: { h: opts.inputSize, w: opts.inputSize, c: opts.inChannels }, numClasses: opts.numClasses, featureShape, head };
}

function pickAlgo(a: VggOptions['algo'], name: string, cin: number, k: 1 | 3, hw: number, first: boolean): ConvAlgo {
  if (typeof a === 'function') return a(name, cin, k, hw);
  if (a && a[name]) return a[name];
  return defaultConvAlgo(name, cin, k, hw, first);
}

/** Parameter shapes of a spec by torchvision name (in torchvision's layout: OIHW, [out,in]). */
export function specParamShapes(spec: VggSpec): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const l of spec.layers) {
    if (l.kind === 'conv') { m.set(`${l.name}.weight`, [l.cout, l.in.c, l.k, l.k]); m.set(`${l.name}.bias`, [l.cout]); }
    else if (l.kind === 'bn') { m.set(`${l.name}.weight`, [l.in.c]); m.set(`${l.name}.bias`, [l.in.c]); }
    else if (l.kind === 'linear') { m.set(`${l.name}.weight`, [l.out, l.in.c * l.repeat]); m.set(`${l.name}.bias`, [l.out]); }
  }
  return m;
}

/** Number of trainable parameters (torchvision's sum(p.numel() for p in model.parameters())). */
export function paramCount(spec: VggSpec): number {
  let n = 0;
  for (const s of specParamShapes(spec).values()) n += s.reduce((a, b) => a * b, 1);
  return n;
}

/** Model names accepted by the CLI and `vggFromName`: A, A-LRN, B, C, D, E, torchvision's vgg11..vgg19, '_bn' suffixes. */
export function parseModelName(name: string): { config: VggConfigName; batchNorm: boolean } {
  let n = name.trim();
  let batchNorm = false;
  if (/_bn$/i.test(n)) { batchNorm = true; n = n.slice(0, -3); }
  const tv: Record<string, VggConfigName> = { vgg11: 'A', vgg13: 'B', vgg16: 'D', vgg19: 'E' };
  const config = (tv[n.toLowerCase()] ?? n.toUpperCase()) as VggConfigName;
  if (!VGG_CONFIGS[config]) {
    throw new Error(`unknown model "${name}": use one of ${VGG_CONFIG_NAMES.join(', ')} (optionally with _bn), or vgg11, vgg13, vgg16, vgg19`);
  }
  return { config, batchNorm };
}
