// Model zoo: parameter counts against torchvision and the paper (from shapes, nothing allocated), layouts and names.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VGG_CONFIGS, paramCount, parseModelName, vggSpec } from '../../src/nn/vgg.js';
import { warmStartMapping } from '../../src/nn/warmstart.js';

test('parameter counts equal torchvision at 224x224, 1000 classes', () => {
  const expect: [string, boolean, number][] = [
    ['A', false, 132_863_336], ['B', false, 133_047_848], ['D', false, 138_357_544], ['E', false, 143_667_240],
    // torchvision's _bn variants add 2 parameters (weight, bias) per conv channel.
    ['A', true, 132_868_840], ['D', true, 138_365_992],
  ];
  for (const [config, batchNorm, n] of expect) {
    const spec = vggSpec({ config: config as 'A', batchNorm });
    assert.is(spec.head, 'torchvision');
    assert.is(paramCount(spec), n, `${config}${batchNorm ? '_bn' : ''}`);
  }
});

test('config C (1x1 convs) has about 134M parameters as the paper; A-LRN as many as A', () => {
  const c = paramCount(vggSpec({ config: 'C' }));
  assert.is(c, 138_357_544 - (9 - 1) * (256 * 256 + 2 * 512 * 512));
  assert.ok(Math.abs(c - 134e6) < 0.5e6, String(c));
  assert.is(paramCount(vggSpec({ config: 'A-LRN' })), 132_863_336);
});

test('Table 1: conv layer counts and torchvision feature indices', () => {
  const convs = (n: keyof typeof VGG_CONFIGS) => VGG_CONFIGS[n].filter((x) => x !== 'M' && x !== 'LRN').length;
  assert.equal([convs('A'), convs('A-LRN'), convs('B'), convs('C'), convs('D'), convs('E')], [8, 8, 10, 13, 13, 16]);
  const d = vggSpec({ config: 'D' });
  const convNames = d.layers.filter((l) => l.kind === 'conv').map((l) => l.name);
  // torchvision vgg16: features.0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28
  assert.equal(convNames, [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28].map((i) => `features.${i}`));
  const dbn = vggSpec({ config: 'D', batchNorm: true });
  assert.equal(dbn.layers.filter((l) => l.kind === 'bn').map((l) => l.name).slice(0, 3), ['features.1', 'features.4', 'features.8']);
  const c = vggSpec({ config: 'C' });
  const ones = c.layers.filter((l) => l.kind === 'conv' && l.k === 1);
  assert.is(ones.length, 3);
  for (const l of ones) assert.is(l.kind === 'conv' && l.algo, 'im2col_gemm');
});

test('torchvision head at 32x32 (1x1 map, folded 49x repeat) has torchvision\'s parameter counts; small head; bad sizes', () => {
  for (const [config, batchNorm, n] of [['A', false, 132_863_336], ['D', true, 138_365_992]] as const) {
    const spec = vggSpec({ config, batchNorm, inputSize: 32 });
    assert.is(spec.head, 'torchvision');
    assert.is(paramCount(spec), n, `${config} at 32x32`);
  }
  const s = vggSpec({ config: 'A', inputSize: 32, numClasses: 10 });
  const fc1 = s.layers.find((l) => l.name === 'classifier.0');
  assert.equal(fc1?.kind === 'linear' && [fc1.in.c, fc1.repeat], [512, 49]);
  assert.is(s.layers.filter((l) => l.kind === 'avgpool').length, 1);
  const small = vggSpec({ config: 'A', inputSize: 32, numClasses: 10, head: 'small' });
  assert.is(paramCount(small), paramCount(s) - 4096 * 512 * 48);
  // 64x64 gives a 2x2 map: auto falls back to the small head; asking for torchvision's is an error.
  assert.is(vggSpec({ config: 'A', inputSize: 64 }).head, 'small');
  assert.throws(() => vggSpec({ config: 'A', inputSize: 64, head: 'torchvision' }), /7x7 or 1x1 final feature map; input 64x64 gives 2x2/);
});

test('small-input head, width multiplier, algorithm defaults', () => {
  const s = vggSpec({ config: 'A', batchNorm: true, inputSize: 32, numClasses: 10, widthMultiplier: 0.125, inChannels: 1, head: 'small' });
  assert.is(s.head, 'small');
  assert.equal(s.featureShape, { h: 1, w: 1, c: 64 });
  const lin = s.layers.filter((l) => l.kind === 'linear');
  assert.equal(lin.map((l) => l.kind === 'linear' && [l.in.c, l.out, l.repeat]), [[64, 512, 1], [512, 512, 1], [512, 10, 1]]);
  const algos = s.layers.flatMap((l) => (l.kind === 'conv' ? [l.algo] : []));
  assert.is(algos[0], 'im2col_gemm');
  // 32 -> 16 -> 8 -> 4 -> 2: the two convs of the last block see 2x2 maps.
  assert.equal(algos.slice(1), [...Array(5).fill('winograd_f4x4'), 'winograd_map2x2', 'winograd_map2x2']);
  const o = vggSpec({ config: 'A', inputSize: 32, algo: { 'features.3': 'winograd_f2x2' } });
  assert.is(o.layers.find((l) => l.name === 'features.3')!.kind === 'conv' && (o.layers.find((l) => l.name === 'features.3') as { algo: string }).algo, 'winograd_f2x2');
  assert.throws(() => vggSpec({ config: 'A', inputSize: 16 }), /too small/);
});

test('model names', () => {
  assert.equal(parseModelName('vgg16_bn'), { config: 'D', batchNorm: true });
  assert.equal(parseModelName('A-LRN'), { config: 'A-LRN', batchNorm: false });
  assert.equal(parseModelName('e'), { config: 'E', batchNorm: false });
  assert.throws(() => parseModelName('F'), /unknown model "F"/);
});

test('warm start maps A\'s first four convs block-wise and the three FC layers', () => {
  const a = vggSpec({ config: 'A' }), d = vggSpec({ config: 'D' });
  const m = warmStartMapping(d, a).filter(([s]) => s.endsWith('weight'));
  assert.equal(m, [
    ['features.0.weight', 'features.0.weight'], ['features.3.weight', 'features.5.weight'],
    ['features.6.weight', 'features.10.weight'], ['features.8.weight', 'features.12.weight'],
    ['classifier.0.weight', 'classifier.0.weight'], ['classifier.3.weight', 'classifier.3.weight'], ['classifier.6.weight', 'classifier.6.weight'],
  ]);
});

test.run();
