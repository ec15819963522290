// Types for comlink's Node adapter (its .mjs ships a .d.ts that NodeNext resolution does not pick up for an .mjs path).
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  /** Wraps a worker_threads Worker or MessagePort as the Endpoint comlink talks through. */
  export default function nodeEndpoint(nep: {
    postMessage(message: unknown, transfer?: readonly unknown[]): void;
    on(type: 'message', listener: (data: unknown) => void): unknown;
    off(type: 'message', listener: (data: unknown) => void): unknown;
    start?(): void;
  }): Endpoint;
}
