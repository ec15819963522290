// Test factory: the core adapter backend (lavapipe on CI) and the OpenGL compatibility-mode backend.
import type { Backend } from '../../backend.js';
import { WebGpuBackend } from './backend.js';

/** Both are required under CI=true (or VGGRT_REQUIRE_WEBGPU=1): a missing one throws with the reason. */
export async function createWebGpuBackendsForTests(): Promise<{ label: string; backend: Backend }[]> {
  const required = process.env.CI === 'true' || process.env.VGGRT_REQUIRE_WEBGPU === '1';
  const out: { label: string; backend: Backend }[] = [];
  const attempts: [string, () => Promise<WebGpuBackend>][] = [
    ['webgpu-core', () => WebGpuBackend.create({ featureLevel: 'core' })],
    ['webgpu-compat', () => WebGpuBackend.create({ featureLevel: 'compat', dawnOptions: ['backend=opengl'] })],
  ];
  for (const [label, make] of attempts) {
    try {
      const be = await make();
      if (label === 'webgpu-core' && be.compat) {
        await be.dispose();
        throw new Error('only a compatibility-mode adapter was found where a core one was asked for');
      }
      out.push({ label, backend: be });
    } catch (e) {
      const why = `${label}: ${(e as Error).message}`;
      if (required) throw new Error(why);
      console.warn(`\n!!! ${why} (not tested; CI=true makes this a failure)\n`);
    }
  }
  return out;
}
