// optim kernels. Placeholder: filled in by the kernel work.
export const optim_placeholder: i32 = 0;
