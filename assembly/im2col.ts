// im2col kernels. Placeholder: filled in by the kernel work.
export const im2col_placeholder: i32 = 0;
