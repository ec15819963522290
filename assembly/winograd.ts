// Winograd convolution kernels: the generated F(2x2)/F(4x4)/F(6x6) transforms plus the filter rotation
// that turns the data gradient into a forward Winograd convolution.
export * from './winograd_gen';

/** wr[ky][kx][co][ci] = w[2-ky][2-kx][ci][co] for ci in [ciStart, ciEnd): the 180-degree-rotated, in/out
 *  swapped 3x3 filter, so that dx = conv(dy, wr) with pad 2 - pad. */
export function winograd_rotate_filter_3x3(w: usize, wr: usize, cin: i32, cout: i32, ciStart: i32, ciEnd: i32): void {
  for (let k = 0; k < 9; k++) {
    const src = w + <usize>(8 - k) * <usize>cin * <usize>cout * 4;
    const dst = wr + <usize>k * <usize>cin * <usize>cout * 4;
    for (let ci = ciStart; ci < ciEnd; ci++) {
      const row = src + <usize>ci * <usize>cout * 4;
      for (let co = 0; co < cout; co++) store<f32>(dst + (<usize>co * <usize>cin + <usize>ci) * 4, load<f32>(row + <usize>co * 4));
    }
  }
}
