// The tuning cache: measured candidate times keyed by backend identity + layer shape + pass (+ algorithm), so
// the next run plans in well under a second. A JSON file in Node, IndexedDB (else memory) in a browser.
import type { ConvShape } from '../backend.js';

export interface TuningCacheOptions {
  /** Node: folder for tuning-v1.json. Default $VGGRT_TUNING_DIR, else ~/.cache/vggrt. */
  dir?: string;
  /** Ignore what is stored (every get misses) and overwrite it with fresh measurements. */
  retune?: boolean;
  /** 'auto' = file in Node, IndexedDB in a browser (memory when neither is there). */
  storage?: 'auto' | 'file' | 'memory' | 'indexeddb';
}

/** One cached measurement: a time, or the reason the candidate could not run. firstMs is the first warm call (the
 *  pruner decides from it); partial: ms is that call alone (the candidate was cut before its full median). */
export type TuningEntry = { ms: number; samples?: number; firstMs?: number; partial?: boolean } | { error: string };

const FILE_NAME = 'tuning-v1.json';
const IDB_NAME = 'vggrt-tuning', IDB_STORE = 'entries';
const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** The engine running us: a kernel time measured under one V8 or browser says little about another. */
export function engineIdentity(): string {
  if (isNode) return `node-${process.versions.node}-v8-${process.versions.v8}-${process.platform}-${process.arch}`;
  return (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? 'unknown-engine';
}

/** Backend identity for keys: name + description (wasm build and thread count; GPU adapter) + the kernel code's
 *  fingerprint + engine. */
export function backendIdentity(b: { name: string; description: string; kernelsId?: string }, engine = engineIdentity()): string {
  return `${b.name}|${b.description}|${b.kernelsId ? `${b.kernelsId}|` : ''}${engine}`;
}

export function shapeKey(s: ConvShape): string {
  return `n${s.n}h${s.h}w${s.w}c${s.cin}-${s.cout}k${s.kh}x${s.kw}s${s.stride}p${s.pad}`;
}

/** Cache key of one candidate: backend identity, shape, pass and algorithm. */
export function tuningKey(parts: { backend: string; shape: string; pass: string; algo: string }): string {
  return `${parts.backend}#${parts.shape}#${parts.pass}#${parts.algo}`;
}

interface Stored { version: 1; entries: Record<string, { value: unknown; savedAt: string }> }

export class TuningCache {
  hits = 0;
  misses = 0;
  private dirty = new Set<string>();

  private constructor(private readonly entries: Map<string, { value: unknown; savedAt: string }>, readonly retune: boolean,
    readonly storage: 'file' | 'memory' | 'indexeddb', readonly location?: string) {}

  static async open(opts: TuningCacheOptions = {}): Promise<TuningCache> {
    const want = opts.storage ?? 'auto';
    const retune = !!opts.retune;
    if (want === 'memory') return new TuningCache(new Map(), retune, 'memory');
    if (want === 'file' || (want === 'auto' && isNode)) {
      const file = await cacheFile(opts.dir);
      return new TuningCache(new Map(Object.entries((await readStored(file)).entries)), retune, 'file', file);
    }
    const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (idb) {
      const db = await openIdb(idb);
      return new TuningCache(await idbReadAll(db), retune, 'indexeddb', IDB_NAME);
    }
    if (want === 'indexeddb') throw new Error('vggrt tuning cache: IndexedDB is not available here');
    return new TuningCache(new Map(), retune, 'memory');
  }

  get size(): number { return this.entries.size; }

  get<T = TuningEntry>(key: string): T | undefined {
    const e = this.retune ? undefined : this.entries.get(key);
    if (e) this.hits++; else this.misses++;
    return e?.value as T | undefined;
  }

  set(key: string, value: unknown): void {
    this.entries.set(key, { value, savedAt: new Date().toISOString() });
    this.dirty.add(key);
  }

  /** Writes the entries set since open. The file is re-read and merged first so concurrent runs keep theirs. */
  async save(): Promise<void> {
    if (this.dirty.size === 0) return;
    if (this.storage === 'file') {
      const { writeFile, rename } = await import('node:fs/promises');
      const file = this.location!;
      const onDisk = await readStored(file);
      for (const k of this.dirty) onDisk.entries[k] = this.entries.get(k)!;
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(onDisk));
      await rename(tmp, file); // atomic: a reader never sees half a file
    } else if (this.storage === 'indexeddb') {
      const db = await openIdb((globalThis as unknown as { indexedDB: IDBFactory }).indexedDB);
      await idbPut(db, [...this.dirty].map((k) => [k, this.entries.get(k)!]));
    }
    this.dirty.clear();
  }
}

async function cacheFile(dir?: string): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  const path = await import('node:path');
  const os = await import('node:os');
  const folder = dir ?? process.env.VGGRT_TUNING_DIR ?? path.join(os.homedir(), '.cache', 'vggrt');
  await mkdir(folder, { recursive: true });
  return path.join(folder, FILE_NAME);
}

async function readStored(file: string): Promise<Stored> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try { text = await readFile(file, 'utf8'); } catch { return { version: 1, entries: {} }; }
  try {
    const v = JSON.parse(text) as Stored;
    if (v?.version === 1 && v.entries && typeof v.entries === 'object') return v;
  } catch { /* fall through */ }
  // A corrupt or foreign file is not fatal: tuning again costs seconds; say so rather than hide it.
  console.warn(`vggrt tuning cache: ignoring unreadable ${file}`);
  return { version: 1, entries: {} };
}

function openIdb(idb: IDBFactory): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = idb.open(IDB_NAME, 1);
    req.onupgradeneeded = () => { req.result.createObjectStore(IDB_STORE); };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function idbReadAll(db: IDBDatabase): Promise<Map<string, { value: unknown; savedAt: string }>> {
  return new Promise((resolve, reject) => {
    const out = new Map<string, { value: unknown; savedAt: string }>();
    const req = db.transaction(IDB_STORE, 'readonly').objectStore(IDB_STORE).openCursor();
    req.onsuccess = () => {
      const c = req.result;
      if (!c) { resolve(out); return; }
      out.set(String(c.key), c.value as { value: unknown; savedAt: string });
      c.continue();
    };
    req.onerror = () => reject(req.error);
  });
}

function idbPut(db: IDBDatabase, items: [string, unknown][]): Promise<void> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(IDB_STORE, 'readwrite');
    const store = tx.objectStore(IDB_STORE);
    for (const [k, v] of items) store.put(v, k);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}
