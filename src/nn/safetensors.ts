// Minimal safetensors reader and writer (the format torch and HF use): 8-byte header length, JSON header, raw data.
//
// Only the dtypes vggrt meets are decoded: F32, F64, I64, I32 (integer tensors such as BN's
// num_batches_tracked and golden targets). Everything is handed out as float32 or plain numbers.

export type SafeDtype = 'F32' | 'F64' | 'I64' | 'I32';
const BYTES: Record<SafeDtype, number> = { F32: 4, F64: 8, I64: 8, I32: 4 };

export interface SafeTensor { dtype: SafeDtype; shape: number[]; data: Float32Array }
export interface SafeFile { tensors: Map<string, SafeTensor>; metadata: Record<string, string> }

function fail(what: string, detail: string): never {
  throw new Error(`safetensors ${what}: ${detail}`);
}

/** Parses a whole safetensors file. Integer tensors are converted to float32 (exact below 2^24). */
export function parseSafetensors(bytes: Uint8Array, what = 'file'): SafeFile {
  if (bytes.length < 8) fail(what, `only ${bytes.length} bytes, too short for the header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (hlen > bytes.length - 8) fail(what, `header length ${hlen} exceeds the file (${bytes.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  } catch (e) {
    fail(what, `header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + hlen;
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') { metadata = v as Record<string, string>; continue; }
    const t = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const dtype = t.dtype as SafeDtype;
    if (!(dtype in BYTES)) fail(what, `tensor ${name} has unsupported dtype ${t.dtype}`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    const [b0, b1] = t.data_offsets;
    if (b1 - b0 !== count * BYTES[dtype]) fail(what, `tensor ${name}: ${b1 - b0} bytes for shape [${t.shape}] ${dtype}`);
    if (base + b1 > bytes.length) fail(what, `tensor ${name} runs past the end of the file (truncated?)`);
    // Copy so the typed array is aligned whatever the header length was.
    const raw = bytes.slice(base + b0, base + b1).buffer;
    let data: Float32Array;
    if (dtype === 'F32') data = new Float32Array(raw);
    else if (dtype === 'F64') data = Float32Array.from(new Float64Array(raw));
    else if (dtype === 'I32') data = Float32Array.from(new Int32Array(raw));
    else data = Float32Array.from(new BigInt64Array(raw), (x) => Number(x));
    tensors.set(name, { dtype, shape: t.shape, data });
  }
  return { tensors, metadata };
}

export interface SafeEntry { name: string; shape: number[]; data: Float32Array; dtype?: 'F32' | 'I64' }

/** Serialises tensors (float32, or I64 for integer-valued ones) into one safetensors file image. */
export function serializeSafetensors(entries: SafeEntry[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let off = 0;
  for (const e of entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (count !== e.data.length) throw new Error(`safetensors write: ${e.name} has ${e.data.length} values for shape [${e.shape}]`);
    const dtype = e.dtype ?? 'F32';
    const blob = dtype === 'F32'
      ? new Uint8Array(e.data.buffer.slice(e.data.byteOffset, e.data.byteOffset + e.data.byteLength))
      : new Uint8Array(BigInt64Array.from(e.data, (x) => BigInt(Math.round(x))).buffer);
    header[e.name] = { dtype, shape: e.shape, data_offsets: [off, off + blob.length] };
    blobs.push(blob);
    off += blob.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8); // the spec pads the header with spaces to 8 bytes
  const hbytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hbytes.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.length;
  for (const b of blobs) { out.set(b, p); p += b.length; }
  return out;
}
