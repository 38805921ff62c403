import type { EmbedResult } from '../../provider.js';

/**
 * Hugging Face feature extraction (`POST /hf-inference/models/{model}/pipeline/feature-extraction`
 * with `{inputs: [...]}`): one vector per input for sentence-embedding models, or one per token
 * for plain encoders, which are mean-pooled here so every model gives one vector per input.
 */
export function featureExtractionPath(baseURL: string, model: string): string {
  // The router's chat lives under /v1; feature extraction sits beside it, from the same root.
  const root = new URL(baseURL).pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${root}/hf-inference/models/${model.split('/').map(encodeURIComponent).join('/')}/pipeline/feature-extraction`;
}

export function convertFeatures(body: unknown, count: number, model: string): EmbedResult | undefined {
  if (!Array.isArray(body)) return undefined;
  // A single input may come back as one flat vector.
  const rows: unknown[] = count === 1 && body.every((x) => typeof x === 'number') ? [body] : body;
  if (rows.length !== count) return undefined;
  const vectors: number[][] = [];
  for (const row of rows) {
    if (!Array.isArray(row) || row.length === 0) return undefined;
    if (row.every((x) => typeof x === 'number')) vectors.push(row as number[]);
    else if (row.every((t) => Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'number')))
      vectors.push(meanPool(row as number[][]));
    else return undefined;
  }
  return { vectors, model };
}

function meanPool(tokens: number[][]): number[] {
  const out = new Array<number>(tokens[0]!.length).fill(0);
  for (const t of tokens) for (let i = 0; i < out.length; i++) out[i]! += t[i] ?? 0;
  return out.map((x) => x / tokens.length);
}
