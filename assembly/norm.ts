// norm kernels. Placeholder: filled in by the kernel work.
export const norm_placeholder: i32 = 0;
