// The one GPU buffer pool: buffers are recycled by size class and usage, so a training step in steady
// state creates no GPU buffers; byte counters make the pool observable.

/** Size classes: 256 bytes, then 4 steps per power of two (at most 25% waste), multiples of 256. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(bytes - 1));
  const step = Math.max(256, p / 4);
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  /** Bytes of every GPU buffer the pool created and has not destroyed (in use or free). */
  reservedBytes = 0;
  /** Bytes of buffers handed out and not yet released. */
  inUseBytes = 0;
  created = 0;
  reused = 0;
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly usageOf = new WeakMap<GPUBuffer, number>();

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, usage: number, label?: string): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(`${size}/${usage}`);
    let b = list?.pop();
    if (b) {
      this.reused++;
    } else {
      b = this.device.createBuffer({ size, usage, label });
      this.usageOf.set(b, usage);
      this.reservedBytes += size;
      this.created++;
    }
    this.inUseBytes += size;
    return b;
  }

  /** Returns a buffer for reuse. Safe while earlier GPU work still reads it: the queue runs in order. */
  release(b: GPUBuffer): void {
    const usage = this.usageOf.get(b);
    if (usage === undefined) throw new Error('vggrt webgpu: releasing a buffer the pool did not create');
    this.inUseBytes -= b.size;
    const key = `${b.size}/${usage}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(b);
  }

  /** Bytes held in free lists. */
  get freeBytes(): number { return this.reservedBytes - this.inUseBytes; }

  /** Destroys every free buffer (callers make sure no unsubmitted work uses them). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) { this.reservedBytes -= b.size; b.destroy(); }
    this.free.clear();
  }
}
