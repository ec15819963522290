// Batches dispatches into one command encoder / compute pass, packs their uniforms into one arena
// buffer, and submits when full or when the host needs results; optionally timestamps each pass.

const UNIFORM_SLOT = 256; // bytes per dispatch's uniform block (minUniformBufferOffsetAlignment <= 256)
export const MAX_PENDING = 128; // dispatches per submit: bounds latency and the arena size

export class Batcher {
  private encoder?: GPUCommandEncoder;
  private pass?: GPUComputePassEncoder;
  private count = 0;
  private readonly arena: GPUBuffer;
  private readonly arenaHost = new ArrayBuffer(UNIFORM_SLOT * MAX_PENDING);
  private readonly arenaView = new DataView(this.arenaHost);
  private arenaUsed = 0;
  private scopes: Promise<GPUError | null>[] = [];
  /** Timestamp recording: query set and the next free query index, while timing is on. */
  private timing?: { set: GPUQuerySet; next: number; capacity: number; missed: number };
  submits = 0;
  dispatches = 0;

  constructor(private readonly device: GPUDevice) {
    this.arena = device.createBuffer({ label: 'vggrt uniforms', size: this.arenaHost.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  }

  get arenaBytes(): number { return this.arena.size; }
  get pending(): number { return this.count; }

  /** Packs 4-byte uniform fields into the arena; returns the binding for them. */
  uniforms(fields: readonly { t: string; v: number }[]): GPUBufferBinding {
    if (fields.length > UNIFORM_SLOT / 4) throw new Error(`vggrt webgpu: ${fields.length} uniform fields exceed ${UNIFORM_SLOT / 4}`);
    if (this.arenaUsed + UNIFORM_SLOT > this.arenaHost.byteLength) this.flush();
    const off = this.arenaUsed;
    fields.forEach((f, i) => {
      if (f.t === 'f32') this.arenaView.setFloat32(off + 4 * i, f.v, true);
      else if (f.t === 'i32') this.arenaView.setInt32(off + 4 * i, f.v, true);
      else this.arenaView.setUint32(off + 4 * i, f.v >>> 0, true);
    });
    this.arenaUsed += UNIFORM_SLOT;
    return { buffer: this.arena, offset: off, size: Math.max(16, Math.ceil(fields.length / 4) * 16) };
  }

  /** The open compute pass (opens encoder and pass as needed). Bind groups must be created after
   *  uniforms() so that a flush in uniforms() cannot split a dispatch from its uniform data. */
  computePass(): GPUComputePassEncoder {
    if (!this.encoder) {
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder({ label: 'vggrt batch' });
    }
    if (!this.pass) {
      const desc: GPUComputePassDescriptor = {};
      const t = this.timing;
      if (t && t.next + 2 <= t.capacity) {
        desc.timestampWrites = { querySet: t.set, beginningOfPassWriteIndex: t.next, endOfPassWriteIndex: t.next + 1 };
        t.next += 2;
      } else if (t) t.missed++;
      this.pass = this.encoder.beginComputePass(desc);
    }
    return this.pass;
  }

  /** Call after each dispatch: submits when the batch is full. */
  dispatched(): void {
    this.count++;
    this.dispatches++;
    if (this.count >= MAX_PENDING) this.flush();
  }

  /** Ends the pass so the caller can encode a copy; returns the encoder. */
  commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder({ label: 'vggrt batch' });
    }
    if (this.pass) { this.pass.end(); this.pass = undefined; }
    return this.encoder;
  }

  /** Submits everything encoded so far (and the uniforms it uses). `extra` runs on the encoder last. */
  flush(extra?: (enc: GPUCommandEncoder) => void): void {
    if (!this.encoder && !extra) return;
    const enc = this.commandEncoder();
    if (extra) extra(enc);
    if (this.arenaUsed) this.device.queue.writeBuffer(this.arena, 0, this.arenaHost, 0, this.arenaUsed);
    this.device.queue.submit([enc.finish()]);
    this.scopes.push(this.device.popErrorScope());
    this.encoder = undefined;
    this.count = 0;
    this.arenaUsed = 0;
    this.submits++;
  }

  /** Waits for the validation results of every submitted batch; returns the first error. */
  async errors(): Promise<GPUError | null> {
    const s = this.scopes;
    this.scopes = [];
    const errs = await Promise.all(s);
    return errs.find((e) => e) ?? null;
  }

  startTiming(set: GPUQuerySet): void {
    this.flush();
    this.timing = { set, next: 0, capacity: set.count, missed: 0 };
  }

  /** Stops timing; returns how many queries were written (pairs of begin/end) and how many passes
   *  went untimed because the query set was full. */
  stopTiming(): { queries: number; missed: number } {
    const r = { queries: this.timing?.next ?? 0, missed: this.timing?.missed ?? 0 };
    this.timing = undefined;
    return r;
  }

  destroy(): void { this.arena.destroy(); }
}
