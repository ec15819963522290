// The suite registry: each suite module is imported dynamically so that one missing or broken suite is
// reported in the run (and the report) instead of stopping the others.
import type { Suite } from '../record.js';

/** Suite name -> module path (relative to this file) and the export holding the Suite. */
export const SUITE_MODULES: Record<string, { path: string; exportName: string }> = {
  gemm: { path: './gemm.js', exportName: 'gemmSuite' },
  conv: { path: './conv.js', exportName: 'convSuite' },
  layers: { path: './layers.js', exportName: 'layersSuite' },
  tfjs: { path: './tfjs.js', exportName: 'tfjsSuite' },
  train: { path: './train.js', exportName: 'trainSuite' },
  plan: { path: './plan.js', exportName: 'planSuite' },
};

export const SUITE_NAMES = Object.keys(SUITE_MODULES);

export type LoadedSuite = { name: string; suite: Suite } | { name: string; error: string };

export async function loadSuite(name: string): Promise<LoadedSuite> {
  const entry = SUITE_MODULES[name];
  if (!entry) return { name, error: `unknown suite '${name}' (known: ${SUITE_NAMES.join(', ')})` };
  try {
    const mod = await import(entry.path) as Record<string, unknown>;
    const suite = mod[entry.exportName] as Suite | undefined;
    if (!suite || typeof suite.run !== 'function') return { name, error: `bench/suites/${name}.js has no export ${entry.exportName} with a run() method` };
    return { name, suite };
  } catch (e) {
    return { name, error: `cannot load bench/suites/${name}.js: ${(e as Error).message.split('\n')[0]}` };
  }
}
