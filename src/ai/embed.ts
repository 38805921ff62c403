import { hash } from 'node:crypto';
import { aiError, ValidationError } from '../errors.js';
import type { CachedAnswer, ResponseCache } from './cache.js';
import { failedAttempts, type AttemptInput, type Dispatched, type DispatchContext } from './dispatch-types.js';
import type { AiMetrics } from './metrics.js';
import type { EmbedResult, LanguageModel } from './provider.js';
import { soloContext } from './request-budget.js';
import type { Route, Routes } from './route.js';
import type { AiCallOptions, AiMeta, EmbeddingRequest, EmbeddingResponse, EmbeddingResult } from './types.js';

/** Most inputs in one request (OpenAI's own limit is 2048). */
export const MAX_EMBED_INPUTS = 2048;

/** What the orchestrator lends to an embeddings call: its routes, attempt loop, cache and close(). */
export interface EmbedHost {
  routes: Routes;
  models: Map<string, LanguageModel>;
  cache: ResponseCache | undefined;
  metrics: AiMetrics;
  /** The failure table's attempt loop (keys, cooldowns, breakers, retries, failover). */
  run<T>(ctx: DispatchContext, call: (a: AttemptInput) => Promise<T>): Promise<Dispatched<T>>;
  /** Controllers close() aborts. */
  calls: Set<AbortController>;
}

/** Checks an OpenAI embeddings body; the input is normalized to an array. */
export function validateEmbeddingRequest(body: unknown): EmbeddingRequest & { input: string[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ValidationError('the body must be a JSON object with "model" and "input"');
  const req = body as Record<string, unknown>;
  if (typeof req.model !== 'string' || req.model.length === 0)
    throw new ValidationError('"model" is required: a model alias or provider/model (see GET /v1/models)');
  const raw = req.input;
  let input: string[];
  if (typeof raw === 'string') input = [raw];
  else if (Array.isArray(raw) && raw.length > 0 && raw.every((s) => typeof s === 'string')) input = raw as string[];
  else if (Array.isArray(raw) && raw.length > 0 && raw.every((s) => Array.isArray(s) || typeof s === 'number')) {
    throw new ValidationError('"input" as token ids is not supported: send text (a string or an array of strings)');
  } else throw new ValidationError('"input" is required: a non-empty string or a non-empty array of strings');
  if (input.length > MAX_EMBED_INPUTS)
    throw new ValidationError(`"input" holds ${input.length} items; at most ${MAX_EMBED_INPUTS} are accepted`);
  if (input.some((s) => s.length === 0)) throw new ValidationError('"input" must not hold an empty string');
  const out: EmbeddingRequest & { input: string[] } = { model: req.model, input };
  if (req.dimensions !== undefined) {
    if (!Number.isInteger(req.dimensions) || (req.dimensions as number) <= 0)
      throw new ValidationError('"dimensions" must be a positive whole number');
    out.dimensions = req.dimensions as number;
  }
  if (req.encoding_format !== undefined) {
    if (req.encoding_format !== 'float' && req.encoding_format !== 'base64')
      throw new ValidationError('"encoding_format" must be "float" or "base64"');
    out.encoding_format = req.encoding_format;
  }
  if (req.user !== undefined) {
    if (typeof req.user !== 'string') throw new ValidationError('"user" must be a string');
    out.user = req.user;
  }
  return out;
}

/** The cache key of an embeddings request: what decides the vectors (not the encoding, not the user). */
export function embeddingKey(req: EmbeddingRequest & { input: string[] }): string {
  return 'emb:' + hash('sha1', JSON.stringify([req.model, req.dimensions ?? null, req.input]), 'base64url');
}

/**
 * Embeddings through the same attempt loop as chat. Targets whose provider has no embeddings are
 * left out of the route (an Anthropic target before an OpenAI one is skipped, not failed); a route
 * with none is a 400. Answers are cached when the cache is on (embeddings are deterministic).
 */
export async function embed(host: EmbedHost, request: EmbeddingRequest, options: AiCallOptions = {}): Promise<EmbeddingResult> {
  const req = validateEmbeddingRequest(request);
  const full = host.routes.resolve(req.model);
  const route = embeddingRoute(full, host.models);
  const t0 = performance.now();
  const key = host.cache ? embeddingKey(req) : '';
  let cacheStatus: AiMeta['cache'] = 'bypass';
  if (host.cache) {
    if (options.noCache) host.metrics.cacheBypass.inc();
    else {
      const hit = await host.cache.get(key);
      (hit ? host.metrics.cacheHit : host.metrics.cacheMiss).inc();
      const vectors = (hit as (CachedAnswer & { embeddings?: number[][] }) | undefined)?.embeddings;
      if (hit && vectors) {
        const usage = hit.completion.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
        const response = toResponse(
          { vectors, model: hit.completion.model, usage: { prompt_tokens: usage.prompt_tokens, total_tokens: usage.total_tokens } },
          hit.model,
        );
        return {
          response,
          meta: {
            provider: hit.provider,
            model: hit.model,
            keyIndex: hit.keyIndex,
            attempts: 0,
            latencyMs: ms(t0),
            cache: 'hit',
            usage: { ...response.usage, completion_tokens: 0 },
          },
        };
      }
      cacheStatus = 'miss';
    }
  }
  const { ctx, controller, dispose } = soloContext(route, options);
  ctx.operation = 'embeddings';
  host.calls.add(controller);
  try {
    const { value, target, served } = await host.run(ctx, (a) =>
      a.model.doEmbed!({
        request: { ...req, model: a.target.model },
        ...(a.lease.apiKey === undefined ? {} : { apiKey: a.lease.apiKey }),
        keyIndex: a.lease.keyIndex,
        signal: a.signal,
        timeouts: a.timeouts,
      }),
    );
    if (value.vectors.length !== req.input.length) {
      throw aiError(
        'TL_ERR_AI_PROVIDER',
        `${target.provider}/${target.model} returned ${value.vectors.length} vectors for ${req.input.length} inputs`,
      );
    }
    const response = toResponse(value, target.model);
    if (response.usage.prompt_tokens)
      host.metrics
        .forKey(served.provider, host.routes.label(served.provider, served.model), served.keyIndex)
        .promptTokens.inc(response.usage.prompt_tokens);
    if (host.cache) {
      const stored: CachedAnswer & { embeddings: number[][] } = {
        // The cache holds chat completions; an embeddings entry keeps its vectors beside an empty one.
        completion: {
          id: 'embedding',
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: response.model,
          choices: [],
          usage: { ...response.usage, completion_tokens: 0 },
        },
        embeddings: value.vectors,
        ...served,
      };
      Promise.resolve(host.cache.set(key, stored)).catch(() => {
        // Swallowed on purpose: a cache that cannot write is an optimization lost, not a failed answer.
      });
    }
    const failed = failedAttempts(ctx.attempts);
    return {
      response,
      meta: {
        ...served,
        attempts: ctx.attempts.length,
        ...(failed.length > 0 ? { failedAttempts: failed } : {}),
        latencyMs: ms(t0),
        cache: cacheStatus,
        usage: { ...response.usage, completion_tokens: 0 },
      },
    };
  } finally {
    host.calls.delete(controller);
    dispose();
  }
}

/** The route without the targets that cannot embed; none left is the caller's mistake (400). */
function embeddingRoute(route: Route, models: Map<string, LanguageModel>): Route {
  const targets = route.targets.filter((t) => typeof models.get(t.provider)?.doEmbed === 'function');
  if (targets.length === route.targets.length) return route;
  if (targets.length === 0) {
    const types = [...new Set(route.targets.map((t) => models.get(t.provider)?.type ?? 'unknown'))].join(', ');
    throw aiError(
      'TL_ERR_AI_UNSUPPORTED',
      `model "${route.id}": none of its targets serves embeddings (provider types: ${types}); use an openai-compatible, ollama, huggingface or gemini provider`,
      {
        details: { model: route.id },
      },
    );
  }
  return { ...route, targets };
}

function toResponse(r: EmbedResult, fallbackModel: string): EmbeddingResponse {
  const prompt = r.usage?.prompt_tokens ?? 0;
  return {
    object: 'list',
    data: r.vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
    model: r.model || fallbackModel,
    usage: { prompt_tokens: prompt, total_tokens: r.usage?.total_tokens ?? prompt },
  };
}

/** A vector as OpenAI's `encoding_format: "base64"` carries it: little-endian float32, base64. */
export function vectorToBase64(v: number[]): string {
  const buf = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4);
  return buf.toString('base64');
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 100) / 100;
}
