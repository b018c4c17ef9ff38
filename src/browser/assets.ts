/** The shipped checkpoints, fetched from the page's own assets (never a CDN). */
import type { StoredCheckpoint } from '../core/rl/services';

/** public/checkpoints/<task>/<name>.{json,bin} under `base`, both files at once. */
export async function fetchCheckpoint(
  base: URL,
  task: string,
  name: 'policy' | 'prm',
): Promise<StoredCheckpoint> {
  const get = async (ext: string) => {
    const url = new URL(`checkpoints/${task}/${name}.${ext}`, base);
    const res = await fetch(url);
    if (!res.ok) throw new Error(`could not load the ${name} checkpoint: ${url.href} answered ${res.status}`);
    return res;
  };
  const [json, bin] = await Promise.all([get('json'), get('bin')]);
  return { manifestJson: await json.text(), blob: new Uint8Array(await bin.arrayBuffer()) };
}
