// activation kernels. Placeholder: filled in by the kernel work.
export const activation_placeholder: i32 = 0;
