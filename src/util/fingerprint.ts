// A short content fingerprint (32-bit FNV-1a, hex) of kernel code, so tuning-cache entries measured with other
// kernels are not reused. Not cryptographic: it only has to change when the code does.

export function fingerprint(data: Uint8Array | string): string {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return `${(h >>> 0).toString(16).padStart(8, '0')}-${bytes.length}`;
}
