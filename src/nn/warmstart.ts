// Warm start as in the paper (section 3.1): a deeper net takes net A's first four conv layers and last three FC layers.
import type { SafeTensor } from './safetensors.js';
import type { VggSpec } from './vgg.js';

/** Convs of a spec grouped by block (blocks end at max pools), as torchvision names. */
function convBlocks(spec: VggSpec): { name: string; cin: number; cout: number; k: number }[][] {
  const blocks: { name: string; cin: number; cout: number; k: number }[][] = [[]];
  for (const l of spec.layers) {
    if (l.kind === 'conv') blocks[blocks.length - 1].push({ name: l.name, cin: l.in.c, cout: l.cout, k: l.k });
    else if (l.kind === 'maxpool') blocks.push([]);
  }
  return blocks.filter((b) => b.length);
}

/**
 * Which source tensor initialises which target tensor. Net A's convs map to the target's convs at the
 * same position within the same block (A's conv1..4 are block 1 #1, block 2 #1, block 3 #1 and #2, whose
 * shapes every deeper configuration repeats), and classifier.0/.3/.6 map to themselves.
 */
export function warmStartMapping(target: VggSpec, source: VggSpec, convs = 4): [string, string][] {
  const sb = convBlocks(source), tb = convBlocks(target);
  const pairs: [string, string][] = [];
  let taken = 0;
  for (let b = 0; b < sb.length && taken < convs; b++) {
    for (let j = 0; j < sb[b].length && taken < convs; j++, taken++) {
      const s = sb[b][j], t = tb[b]?.[j];
      if (!t || t.cin !== s.cin || t.cout !== s.cout || t.k !== s.k) {
        throw new Error(`warm start: source conv ${s.name} (${s.cin}->${s.cout}, ${s.k}x${s.k}) has no matching conv in block ${b + 1} of the target`);
      }
      for (const suffix of ['weight', 'bias']) pairs.push([`${s.name}.${suffix}`, `${t.name}.${suffix}`]);
    }
  }
  for (const fc of ['classifier.0', 'classifier.3', 'classifier.6']) for (const suffix of ['weight', 'bias']) pairs.push([`${fc}.${suffix}`, `${fc}.${suffix}`]);
  return pairs;
}

/** Builds a partial state_dict for the target from a trained source state_dict (torchvision names/layout). */
export function warmStartTensors(target: VggSpec, source: VggSpec, sourceTensors: Map<string, SafeTensor>, convs = 4): Map<string, SafeTensor> {
  const out = new Map<string, SafeTensor>();
  for (const [s, t] of warmStartMapping(target, source, convs)) {
    const v = sourceTensors.get(s);
    if (!v) throw new Error(`warm start: the source checkpoint lacks ${s}`);
    out.set(t, v);
  }
  return out;
}
