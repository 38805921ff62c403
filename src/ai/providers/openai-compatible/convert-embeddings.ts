import type { EmbedCallOptions, EmbedResult } from '../../provider.js';
import { isObject } from './wire-types.js';

/** OpenAI's embeddings body: always floats from the upstream (the gateway encodes base64 itself). */
export function embeddingsBody(request: EmbedCallOptions['request']): Record<string, unknown> {
  const body: Record<string, unknown> = { model: request.model, input: request.input, encoding_format: 'float' };
  if (request.dimensions !== undefined) body.dimensions = request.dimensions;
  if (request.user !== undefined) body.user = request.user;
  return body;
}

/** `{data:[{index, embedding}], model, usage}` → vectors in input order; undefined when malformed. */
export function convertEmbeddings(body: unknown, fallbackModel: string): EmbedResult | undefined {
  if (!isObject(body) || !Array.isArray(body.data)) return undefined;
  const rows = body.data.filter(isObject);
  const vectors: number[][] = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const at = typeof row.index === 'number' ? row.index : i;
    const v = decodeVector(row.embedding);
    if (!v) return undefined;
    vectors[at] = v;
  }
  if (vectors.length !== rows.length || vectors.some((v) => v === undefined)) return undefined;
  const u = isObject(body.usage) ? body.usage : undefined;
  const prompt = typeof u?.prompt_tokens === 'number' ? u.prompt_tokens : 0;
  return {
    vectors,
    model: typeof body.model === 'string' ? body.model : fallbackModel,
    usage: { prompt_tokens: prompt, total_tokens: typeof u?.total_tokens === 'number' ? u.total_tokens : prompt },
  };
}

/** A vector as numbers or as OpenAI's base64 (little-endian float32), which some servers send anyway. */
export function decodeVector(v: unknown): number[] | undefined {
  if (Array.isArray(v)) return v.every((x) => typeof x === 'number') ? (v as number[]) : undefined;
  if (typeof v !== 'string') return undefined;
  const buf = Buffer.from(v, 'base64');
  if (buf.length % 4 !== 0) return undefined;
  const out = new Array<number>(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}
