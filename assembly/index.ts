// The kernel module's exports: one family file each; this file only re-exports.
export * from './runtime';
export * from './gemm';
export * from './im2col';
export * from './winograd';
export * from './map2x2';
export * from './pool';
export * from './activation';
export * from './norm';
export * from './loss';
export * from './optim';
export * from './reduce';
