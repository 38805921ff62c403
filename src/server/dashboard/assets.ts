import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { TasklaneError } from '../../errors.js';

/** The dashboard's files, served as they are: hand-written HTML, CSS and JS, no build step, no CDN. */
export const ASSET_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;

export type AssetName = keyof typeof ASSET_FILES;

export interface Asset {
  body: Buffer;
  type: string;
}

/**
 * Reads the assets once, next to this module: `src/server/dashboard/assets/` when run from the
 * sources, `dist/server/dashboard/assets/` once built (scripts/copy-assets.js copies them there).
 */
export async function loadAssets(): Promise<Map<AssetName, Asset>> {
  const dir = new URL('./assets/', import.meta.url);
  const out = new Map<AssetName, Asset>();
  for (const [name, type] of Object.entries(ASSET_FILES) as Array<[AssetName, string]>) {
    const file = new URL(name, dir);
    try {
      out.set(name, { body: await readFile(file), type });
    } catch (err) {
      throw new TasklaneError('TL_ERR_INTERNAL', `dashboard asset ${fileURLToPath(file)} is missing: run "npm run build" (it copies src/server/dashboard/assets)`, { cause: err });
    }
  }
  return out;
}
