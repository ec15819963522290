// pool kernels. Placeholder: filled in by the kernel work.
export const pool_placeholder: i32 = 0;
