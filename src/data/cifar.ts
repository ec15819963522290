// CIFAR-10 / CIFAR-100 binary-version reader: fixed-size records (label byte(s) + 3072 CHW bytes), made HWC once.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ArrayDataset } from './array.js';
import { DataFileError, findFile, readMaybeGzip, requireDir } from './files.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const IMAGE_BYTES = 3 * PLANE;

interface Format {
  /** Subdirectory the official archive extracts to; --data may name it or its parent. */
  subdir: string;
  files: { train: string[]; test: string[] };
  /** Label bytes before the image and the class count each must be below; the last one is the label used. */
  labels: { what: string; classes: number }[];
}

const FORMATS: Record<'cifar10' | 'cifar100', Format> = {
  cifar10: {
    subdir: 'cifar-10-batches-bin',
    files: { train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`), test: ['test_batch.bin'] },
    labels: [{ what: 'label', classes: 10 }],
  },
  cifar100: {
    subdir: 'cifar-100-binary',
    files: { train: ['train.bin'], test: ['test.bin'] },
    labels: [{ what: 'coarse label', classes: 20 }, { what: 'fine label', classes: 100 }],
  },
};

/** Loads one split. Every file of the split must be present (a missing batch would silently shrink the set). */
export function loadCifar(dataset: 'cifar10' | 'cifar100', data: string | undefined, split: 'train' | 'test'): ArrayDataset {
  const fmt = FORMATS[dataset];
  const names = fmt.files[split];
  const hint = `the ${dataset === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} binary version (${fmt.subdir}: ${
    [...fmt.files.train, ...fmt.files.test].join(', ')})`;
  if (data === undefined) {
    throw new Error(`${dataset}: no data directory given: pass --data DIR holding ${hint}; it cannot be downloaded here`);
  }
  requireDir(dataset, data, hint);
  const dir = existsSync(join(data, fmt.subdir)) && !existsSync(join(data, names[0])) ? join(data, fmt.subdir) : data;

  const labelBytes = fmt.labels.length;
  const record = labelBytes + IMAGE_BYTES;
  const parts = names.map((name) => {
    const path = findFile(dataset, dir, [name], hint);
    const bytes = readMaybeGzip(dataset, path);
    if (bytes.length === 0) throw new DataFileError(dataset, path, 'file is empty');
    if (bytes.length % record !== 0) {
      throw new DataFileError(dataset, path, `truncated or wrong format: ${bytes.length} bytes is not a whole number of ` +
        `${record}-byte records (${labelBytes} label byte${labelBytes > 1 ? 's' : ''} + 3x32x32 image); ` +
        `${Math.floor(bytes.length / record)} records and ${bytes.length % record} bytes left over`);
    }
    return { path, bytes, count: bytes.length / record };
  });

  const total = parts.reduce((a, p) => a + p.count, 0);
  const pixels = new Uint8Array(total * IMAGE_BYTES);
  const labels = new Uint8Array(total);
  let k = 0;
  for (const { path, bytes, count } of parts) {
    for (let r = 0; r < count; r++, k++) {
      const base = r * record;
      for (let j = 0; j < labelBytes; j++) {
        const { what, classes } = fmt.labels[j];
        if (bytes[base + j] >= classes) {
          throw new DataFileError(dataset, path, `${what} ${bytes[base + j]} of record ${r} is out of range [0, ${classes})`);
        }
      }
      labels[k] = bytes[base + labelBytes - 1];
      // CHW planes (all R, all G, all B) -> HWC pixels.
      const src = base + labelBytes, dst = k * IMAGE_BYTES;
      for (let p = 0; p < PLANE; p++) {
        pixels[dst + 3 * p] = bytes[src + p];
        pixels[dst + 3 * p + 1] = bytes[src + PLANE + p];
        pixels[dst + 3 * p + 2] = bytes[src + 2 * PLANE + p];
      }
    }
  }
  const numClasses = fmt.labels[labelBytes - 1].classes;
  return new ArrayDataset(dataset, SIDE, SIDE, 3, numClasses, pixels, labels);
}
