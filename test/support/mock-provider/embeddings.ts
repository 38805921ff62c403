import { createHash } from 'node:crypto';

/**
 * The mock's embeddings: a deterministic vector per text (from its sha256), so a test can compute
 * what each input must come back as, in each upstream's wire shape.
 */
export function mockVector(text: string, dimensions = 8): number[] {
  const out: number[] = [];
  let block = createHash('sha256').update(text).digest();
  for (let i = 0; i < dimensions; i++) {
    if (i > 0 && i % 32 === 0) block = createHash('sha256').update(block).digest();
    // Values a float32 holds exactly (multiples of 1/128 in [-1, 1)), so base64 round-trips are exact.
    out.push((block[i % 32]! - 128) / 128);
  }
  return out;
}

const tokens = (texts: string[]) => texts.reduce((n, t) => n + Math.max(1, t.trim().split(/\s+/).length), 0);

export function inputsOf(body: any): string[] {
  const raw = body?.input ?? body?.inputs;
  if (typeof raw === 'string') return [raw];
  return Array.isArray(raw) ? raw.map(String) : [];
}

export function openaiEmbeddings(model: string, texts: string[], dimensions: number | undefined, encoding: string | undefined): unknown {
  return {
    object: 'list',
    data: texts.map((t, index) => {
      const v = mockVector(t, dimensions);
      return {
        object: 'embedding',
        index,
        embedding: encoding === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
      };
    }),
    model,
    usage: { prompt_tokens: tokens(texts), total_tokens: tokens(texts) },
  };
}

export function ollamaEmbeddings(model: string, texts: string[], dimensions: number | undefined): unknown {
  return {
    model,
    embeddings: texts.map((t) => mockVector(t, dimensions)),
    total_duration: 1000,
    load_duration: 10,
    prompt_eval_count: tokens(texts),
  };
}

/** Feature extraction: one pooled vector per input (sentence-transformers models). */
export function hfFeatures(texts: string[]): unknown {
  return texts.map((t) => mockVector(t));
}

/** Gemini batchEmbedContents: `{embeddings: [{values}]}`. */
export function geminiEmbeddings(requests: any[]): unknown {
  return {
    embeddings: requests.map((r) => ({
      values: mockVector(
        (r?.content?.parts ?? []).map((p: any) => p?.text ?? '').join(''),
        typeof r?.outputDimensionality === 'number' ? r.outputDimensionality : undefined,
      ),
    })),
  };
}
