// The reference backend: plain TypeScript loops over Float32Arrays, the living definition of every kernel.
import { type Backend, type Buf, type KernelArgs, type KernelId, type MemoryStats, KernelArgumentError } from '../../backend.js';
import { validateKernelArgs } from '../../kernels/validate.js';
import { referenceOps } from './index.js';

export interface RefBuf extends Buf { readonly data: Float32Array }

export type RefOp<K extends KernelId> = (args: KernelArgs[K], data: (b: Buf) => Float32Array) => void;
export type RefOpTable = { [K in KernelId]?: RefOp<K> };

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  readonly description = 'reference-ts';
  private live = 0;
  private peak = 0;

  alloc(length: number): Buf {
    if (!Number.isInteger(length) || length < 0) throw new KernelArgumentError('alloc', `length must be a non-negative integer, got ${length}`);
    this.live += length * 4;
    this.peak = Math.max(this.peak, this.live);
    const b: RefBuf = { backend: 'reference', length, data: new Float32Array(length) };
    return b;
  }
  free(buf: Buf): void { this.data(buf); this.live -= buf.length * 4; }
  data(b: Buf): Float32Array {
    if (b.backend !== 'reference') throw new KernelArgumentError('reference', `a ${b.backend} buffer was passed to the reference backend`);
    return (b as RefBuf).data;
  }
  write(buf: Buf, data: Float32Array, offset = 0): void {
    if (offset < 0 || offset + data.length > buf.length) {
      throw new KernelArgumentError('write', `${data.length} elements at offset ${offset} do not fit a buffer of ${buf.length}`);
    }
    this.data(buf).set(data, offset);
  }
  async read(buf: Buf, offset = 0, length = buf.length - offset): Promise<Float32Array> {
    return this.data(buf).slice(offset, offset + length);
  }
  run<K extends KernelId>(kernel: K, args: KernelArgs[K]): void {
    validateKernelArgs(kernel, args, (b, name) => {
      if (b.backend !== 'reference') throw new KernelArgumentError(name, `is a ${b.backend} buffer`);
    });
    const op = referenceOps[kernel] as RefOp<K> | undefined;
    if (!op) throw new Error(`vggrt reference: kernel ${kernel} is not implemented`);
    op(args, (b) => this.data(b));
  }
  async sync(): Promise<void> {}
  memory(): MemoryStats { return { liveBytes: this.live, peakBytes: this.peak, reservedBytes: this.live }; }
  async dispose(): Promise<void> {}
}
