// The one table of VGG layer shapes: tests, benches and the autotuner all draw from it.
import type { ConvShape } from '../backend.js';

export interface ConvLayerShape { id: string; shape: ConvShape }

function conv(n: number, hw: number, cin: number, cout: number): ConvShape {
  return { n, h: hw, w: hw, cin, cout, kh: 3, kw: 3, stride: 1, pad: 1 };
}

/** The CIFAR-size (32x32 input) VGG conv layers at batch 32, as in ../shared/ANCHORS.md. */
export const CIFAR_CONV_LAYERS: ConvLayerShape[] = [
  { id: 'c3-64_32x32_n32', shape: conv(32, 32, 3, 64) },
  { id: 'c64-128_16x16_n32', shape: conv(32, 16, 64, 128) },
  { id: 'c128-256_8x8_n32', shape: conv(32, 8, 128, 256) },
  { id: 'c256-512_4x4_n32', shape: conv(32, 4, 256, 512) },
  { id: 'c512-512_2x2_n32', shape: conv(32, 2, 512, 512) },
];

/** ImageNet-scale (224x224 input) layers at batch 4. */
export const IMAGENET_CONV_LAYERS: ConvLayerShape[] = [
  { id: 'c64-64_224x224_n4', shape: conv(4, 224, 64, 64) },
  { id: 'c128-128_112x112_n4', shape: conv(4, 112, 128, 128) },
  { id: 'c256-256_56x56_n4', shape: conv(4, 56, 256, 256) },
  { id: 'c512-512_28x28_n4', shape: conv(4, 28, 512, 512) },
  { id: 'c512-512_14x14_n4', shape: conv(4, 14, 512, 512) },
];

/** Square GEMM sizes for the GEMM suite. */
export const GEMM_SQUARE_SIZES = [256, 512, 1024, 2048];

/** The GEMMs that im2col turns each conv layer into: [m = n*oh*ow, n = cout, k = 9*cin]. */
export function im2colGemmShape(s: ConvShape): { m: number; n: number; k: number } {
  const oh = s.h + 2 * s.pad - s.kh + 1, ow = s.w + 2 * s.pad - s.kw + 1;
  return { m: s.n * oh * ow, n: s.cout, k: s.kh * s.kw * s.cin };
}

/** Direct-convolution FLOP count, used for every algorithm so that GFLOP/s figures compare. */
export function convFlops(s: ConvShape): number {
  const oh = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1, ow = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
  return 2 * s.n * s.cout * oh * ow * s.cin * s.kh * s.kw;
}
