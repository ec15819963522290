// The one pipeline cache, keyed by shader id + entry point + override constants; compile errors are
// reported with the shader id, the WGSL line and the source text of that line.
import type { ShaderSources } from './shaders.js';

export class ShaderCompileError extends Error {
  constructor(message: string) { super(message); this.name = 'ShaderCompileError'; }
}

/** Formats getCompilationInfo() messages as `gemm.wgsl:12:5 error: ...` plus the offending line. */
export function formatCompilationMessages(shader: string, source: string, messages: readonly GPUCompilationMessage[]): string {
  const lines = source.split('\n');
  return messages.map((m) => {
    const text = lines[m.lineNum - 1];
    const where = m.lineNum > 0 ? `${shader}.wgsl:${m.lineNum}:${m.linePos}` : `${shader}.wgsl`;
    const caret = text === undefined ? '' : `\n  ${String(m.lineNum).padStart(4)} | ${text}\n         ${' '.repeat(Math.max(0, m.linePos - 1))}^`;
    return `${where} ${m.type}: ${m.message}${caret}`;
  }).join('\n');
}

interface ModuleEntry { module: GPUShaderModule; check: Promise<string | undefined>; error?: string }

export class PipelineCache {
  hits = 0;
  misses = 0;
  /** Host time spent creating shader modules and pipelines (Dawn compiles there): benches report it apart. */
  compileMs = 0;
  private readonly modules = new Map<string, ModuleEntry>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly failed = new Map<string, string>();
  private pending: Promise<void>[] = [];
  private unreported: string[] = [];

  constructor(private readonly device: GPUDevice, readonly sources: ShaderSources) {}

  static key(shader: string, entryPoint: string, constants?: Record<string, number>): string {
    const c = constants ? Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`).join(',') : '';
    return `${shader}:${entryPoint}|${c}`;
  }

  get size(): number { return this.pipelines.size; }

  /** The compute pipeline, created synchronously on first use. Errors found asynchronously (compile
   *  messages, validation) are thrown by check() and by every later get() of the same key. */
  get(shader: string, entryPoint: string, constants?: Record<string, number>): GPUComputePipeline {
    const key = PipelineCache.key(shader, entryPoint, constants);
    const known = this.failed.get(key) ?? this.modules.get(shader)?.error;
    if (known) throw new ShaderCompileError(known);
    const hit = this.pipelines.get(key);
    if (hit) { this.hits++; return hit; }
    this.misses++;
    const t0 = performance.now();
    const mod = this.module(shader);
    this.device.pushErrorScope('validation');
    const pipeline = this.device.createComputePipeline({
      label: key, layout: 'auto', compute: { module: mod.module, entryPoint, constants },
    });
    const scope = this.device.popErrorScope();
    this.compileMs += performance.now() - t0;
    this.pipelines.set(key, pipeline);
    this.pending.push(Promise.all([mod.check, scope]).then(([compileErr, err]) => {
      if (!compileErr && !err) return;
      const msg = compileErr ?? `vggrt webgpu: pipeline ${key} is invalid: ${err!.message}`;
      this.failed.set(key, msg);
      this.unreported.push(msg);
      this.pipelines.delete(key);
    }));
    return pipeline;
  }

  /** Creates (or reuses) a pipeline and waits until it is known to be valid: for warm-up and tests. */
  async compile(shader: string, entryPoint: string, constants?: Record<string, number>): Promise<GPUComputePipeline> {
    const p = this.get(shader, entryPoint, constants);
    await this.check();
    return p;
  }

  /** Resolves when every pipeline created so far has been checked; throws the first error found since
   *  the last check (later uses of a failed pipeline throw from get()). */
  async check(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending;
      this.pending = [];
      await Promise.all(batch);
    }
    const msgs = this.unreported;
    this.unreported = [];
    if (msgs.length) throw new ShaderCompileError(msgs[0]);
  }

  private module(shader: string): ModuleEntry {
    let entry = this.modules.get(shader);
    if (entry) return entry;
    const source = this.sources.get(shader);
    // Compile errors are reported through getCompilationInfo(); the scope keeps Dawn from also logging them.
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: `${shader}.wgsl`, code: source });
    void this.device.popErrorScope();
    const check = module.getCompilationInfo().then((info) => {
      const errors = info.messages.filter((m) => m.type === 'error');
      if (!errors.length) return undefined;
      const msg = `vggrt webgpu: shader ${shader}.wgsl failed to compile:\n${formatCompilationMessages(shader, source, errors)}`;
      entry!.error = msg;
      return msg;
    });
    entry = { module, check };
    this.modules.set(shader, entry);
    return entry;
  }

  /** Forgets a shader's module and pipelines (after ShaderSources.set replaced its source). */
  invalidate(shader: string): void {
    this.modules.delete(shader);
    for (const k of [...this.pipelines.keys()]) if (k.startsWith(`${shader}:`)) this.pipelines.delete(k);
    for (const k of [...this.failed.keys()]) if (k.startsWith(`${shader}:`)) this.failed.delete(k);
  }
}
