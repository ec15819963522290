// reduce kernels. Placeholder: filled in by the kernel work.
export const reduce_placeholder: i32 = 0;
