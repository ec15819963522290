// First-fit allocator over the one fixed-size shared WebAssembly.Memory; all allocation happens here in TS.

export const ALIGN = 64; // a cache line: keeps SIMD loads aligned and threads off each other's lines

/** Bytes left unused after every workspace slot and between the per-thread slices of one (WasmContext.threadSlices).
 *  Two threads streaming through regions that sit close together slow each other down: the hardware prefetchers of
 *  one core run into the other's region and pull its lines across. Measured on the column-blocked input transform
 *  (each thread rewrites its own 235 KB stage per claim; 128->256 8x8 data gradient, 2 threads, transform only):
 *  the second stage right after the first 0.29-0.32 ms, 4 KB after 0.31, 16 KB 0.29, 64 KB 0.26, 128 KB to 40 MB
 *  0.22-0.26, one thread alone 0.44-0.50. The fused filter gradient's per-thread V and dM (1.6 MB each for 64->64
 *  224x224 F(6x6)) needed more: both threads each running all its tiles at once took 11% longer than one alone
 *  with the slices 128 KB apart, 2.5% with them tens of MB apart. 1 MB against 128 KB, one gap per process, six
 *  alternated pairs: that layer's 2-thread filter gradient 47.1-47.8 ms against 49.5-53.9 (all six faster); in one
 *  process, alternated, 1.002-1.095x on seven 2-thread layer passes, none slower. Cost: about 28 MB more of the
 *  memory reserved by the allocator for VGG-11's workspaces (477 -> 505 MB peak), 7-12 MB more RSS (gap pages are
 *  never written). Mutable for the bench's A/B. */
export const threadGap = { bytes: 1 << 20 };

export interface Block { ptr: number; bytes: number }

export class OutOfMemoryError extends Error {
  constructor(requested: number, stats: { liveBytes: number; capacity: number; largestFree: number }) {
    super(`vggrt wasm: cannot allocate ${requested} bytes: ${stats.liveBytes} of ${stats.capacity} bytes in use, ` +
      `largest free block ${stats.largestFree} bytes; start the backend with a larger memoryMiB`);
    this.name = 'OutOfMemoryError';
  }
}

/** Free list kept sorted by address so neighbours coalesce on free. */
export class Allocator {
  private free: Block[];
  private live = new Map<number, number>();
  liveBytes = 0;
  peakBytes = 0;

  constructor(readonly start: number, readonly end: number) {
    const s = Math.ceil(start / ALIGN) * ALIGN;
    this.free = [{ ptr: s, bytes: end - s }];
  }

  get capacity(): number { return this.end - this.start; }

  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i];
      if (b.bytes < size) continue;
      const ptr = b.ptr;
      if (b.bytes === size) this.free.splice(i, 1);
      else { b.ptr += size; b.bytes -= size; }
      this.live.set(ptr, size);
      this.liveBytes += size;
      if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
      return ptr;
    }
    throw new OutOfMemoryError(bytes, { liveBytes: this.liveBytes, capacity: this.capacity,
      largestFree: this.free.reduce((m, b) => Math.max(m, b.bytes), 0) });
  }

  release(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) throw new Error(`vggrt wasm: free of pointer ${ptr} that is not allocated (double free?)`);
    this.live.delete(ptr);
    this.liveBytes -= size;
    let i = 0;
    while (i < this.free.length && this.free[i].ptr < ptr) i++;
    this.free.splice(i, 0, { ptr, bytes: size });
    // coalesce with the next, then with the previous block
    if (i + 1 < this.free.length && ptr + size === this.free[i + 1].ptr) {
      this.free[i].bytes += this.free[i + 1].bytes;
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1].ptr + this.free[i - 1].bytes === ptr) {
      this.free[i - 1].bytes += this.free[i].bytes;
      this.free.splice(i, 1);
    }
  }

  isLive(ptr: number): boolean { return this.live.has(ptr); }
  sizeOf(ptr: number): number | undefined { return this.live.get(ptr); }
}
