// Winograd convolution kernels: the generated F(2x2)/F(4x4)/F(6x6) transforms, the fused forward driver and
// the filter flip that turns the data gradient into a forward Winograd convolution.
export * from './winograd_gen';
export * from './winograd_fused';

/** wf[ky][kx] = w[2-ky][2-kx] (each a cin x cout block, `block` floats) for elements [e0, e1) of every block:
 *  the 180-degree-rotated filter, in and out not swapped. The data gradient transforms it as a forward
 *  filter and runs its tile GEMMs with B transposed, which swaps in and out for free. */
export function winograd_flip_filter_3x3(w: usize, wf: usize, block: i32, e0: i32, e1: i32): void {
  const bytes = <usize>block * 4, off = <usize>e0 * 4;
  for (let k = 0; k < 9; k++) memory.copy(wf + <usize>k * bytes + off, w + <usize>(8 - k) * bytes + off, <usize>(e1 - e0) * 4);
}
