// loss kernels. Placeholder: filled in by the kernel work.
export const loss_placeholder: i32 = 0;
