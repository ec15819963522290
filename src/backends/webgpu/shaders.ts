// Loads WGSL sources from shaders/<family>.wgsl: fs in Node (relative to the package root), fetch in a browser.
import { fingerprint } from '../../util/fingerprint.js';

/** Every shader family file; loaded up front so dispatch() can compile synchronously. */
export const SHADER_FAMILIES = ['gemm', 'gemm_vec4', 'im2col', 'winograd', 'map2x2', 'pool', 'activation', 'norm', 'loss', 'optim', 'reduce'] as const;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** dist/src/backends/webgpu/shaders.js -> <package root>/shaders/ (also right from src/ under ts-node). */
function defaultBaseUrl(): URL {
  const here = new URL('.', import.meta.url);
  const levels = here.pathname.includes('/dist/') ? '../../../../shaders/' : '../../../shaders/';
  return new URL(levels, here);
}

export class ShaderSources {
  private readonly sources = new Map<string, string>();
  private readonly missing = new Map<string, string>();

  constructor(readonly baseUrl: URL = defaultBaseUrl()) {}

  /** Loads every family; a missing file is remembered and reported when a kernel needs it. */
  async loadAll(names: readonly string[] = SHADER_FAMILIES): Promise<void> {
    await Promise.all(names.map(async (name) => {
      try {
        this.sources.set(name, await this.fetchText(name));
      } catch (e) {
        this.missing.set(name, (e as Error).message);
      }
    }));
  }

  /** Source of shader `name`; Node re-reads a file that was missing at load time (written since). */
  get(name: string): string {
    const s = this.sources.get(name);
    if (s !== undefined) return s;
    if (isNode && /^[a-z0-9_]+$/i.test(name)) {
      const text = nodeReadSync(new URL(`${name}.wgsl`, this.baseUrl));
      if (text !== undefined) { this.sources.set(name, text); return text; }
    }
    const why = this.missing.get(name) ?? 'not loaded';
    throw new Error(`vggrt webgpu: shader ${name}.wgsl is not available (${why}; looked in ${this.baseUrl.href})`);
  }

  /** Fingerprint of every loaded source, in name order (the tuning cache keys on it). */
  fingerprint(): string {
    return fingerprint([...this.sources.keys()].sort().map((k) => `${k}\n${this.sources.get(k)}`).join('\n'));
  }

  /** Replaces or adds a source (tests, and experiments with generated WGSL). */
  set(name: string, source: string): void { this.sources.set(name, source); }

  private async fetchText(name: string): Promise<string> {
    const url = new URL(`${name}.wgsl`, this.baseUrl);
    if (isNode && url.protocol === 'file:') {
      const fs = await import('node:fs/promises');
      return fs.readFile(url, 'utf8');
    }
    const r = await fetch(url);
    if (!r.ok) throw new Error(`HTTP ${r.status} for ${url.href}`);
    return r.text();
  }
}

let fsSync: typeof import('node:fs') | undefined;
if (isNode) fsSync = await import('node:fs');

function nodeReadSync(url: URL): string | undefined {
  if (!fsSync || url.protocol !== 'file:') return undefined;
  try { return fsSync.readFileSync(url, 'utf8'); } catch { return undefined; }
}
