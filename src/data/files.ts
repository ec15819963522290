// Reading dataset files: finds plain or .gz variants, gunzips by magic bytes, and names the file in every error.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Error for a malformed or missing dataset file; the message always starts with the dataset and the path. */
export class DataFileError extends Error {
  constructor(readonly dataset: string, readonly path: string, detail: string) {
    super(`${dataset}: ${path}: ${detail}`);
    this.name = 'DataFileError';
  }
}

/** Fails clearly when the --data directory itself is missing, so the user is not told about every file in turn. */
export function requireDir(dataset: string, dir: string, hint: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new DataFileError(dataset, dir, `data directory not found (set it with --data DIR; ${hint})`);
  }
}

/** Returns the first of `names` that exists in dir, else throws naming every candidate and the --data flag. */
export function findFile(dataset: string, dir: string, names: string[], hint: string): string {
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p)) return p;
  }
  const tried = names.map((n) => join(dir, n)).join(' or ');
  throw new DataFileError(dataset, tried, `missing file (point --data at the directory holding it; ${hint})`);
}

/** Reads a file, gunzipping it when it starts with the gzip magic bytes 1f 8b (whatever its name). */
export function readMaybeGzip(dataset: string, path: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new DataFileError(dataset, path, `cannot read (${(e as Error).message})`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch (e) {
      throw new DataFileError(dataset, path, `corrupt or truncated gzip data (${(e as Error).message})`);
    }
  }
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}
