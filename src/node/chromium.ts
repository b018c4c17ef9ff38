/**
 * Headless Chromium for Playwright here: the system browser (Playwright's own download cannot
 * work offline), with the flags platform.md lists for running as root and for WebGPU on SwiftShader.
 */
import { existsSync } from 'node:fs';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--disable-vulkan-surface',
];

/** CHROMIUM_PATH, else the first system Chromium found; a clear error when there is none. */
export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH='${fromEnv}' does not exist`);
    return fromEnv;
  }
  const found = CANDIDATES.find((p) => existsSync(p));
  if (!found)
    throw new Error(
      `no Chromium found (looked in ${CANDIDATES.join(', ')}); install it (apt-get install -y chromium, or run 'bash .ci/run', which does) or set CHROMIUM_PATH`,
    );
  return found;
}
