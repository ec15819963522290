// winograd kernels. Placeholder: filled in by the kernel work.
export const winograd_placeholder: i32 = 0;
