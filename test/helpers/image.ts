/**
 * The locally built image for tests that need it: built by scripts/image.ts when missing or
 * stale (a cold build takes about 1.5–4 minutes, mostly mmdebstrap; an up-to-date check
 * about 5–15 s), after installing podman and friends from Debian when missing.
 */
import { IMAGE_REF } from '../../deploy/image/manifest.ts';
import { ensureTools } from '../../deploy/image/podman.ts';
import { buildImage } from '../../scripts/image.ts';

export interface TestImage {
  readonly ref: string;
  readonly id: string;
}

/** The image, or the reason tests that need it must skip (only: the container tools cannot be installed). */
export async function testImage(): Promise<TestImage | { skip: string }> {
  const why = ensureTools((line) => process.stderr.write(`[image] ${line}\n`));
  if (why) return { skip: `podman cannot be installed here: ${why}` };
  const id = await buildImage();
  return { ref: IMAGE_REF, id };
}
