import { Ajv, type ValidateFunction } from 'ajv';
import type { ProviderError } from '../errors.js';
import type { EmbedCallOptions, EmbedResult, LanguageModel, PhaseTimeouts, ProviderCallOptions, StreamPart } from './provider.js';
import { PROVIDER_SPEC } from './provider.js';
import { providerError, where, type CallContext } from './providers/http/provider-error.js';
import type { ChatCompletion, ChatRequest } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Compiled schemas, by their JSON; bounded so callers sending new schemas cannot grow it forever. */
const MAX_SCHEMAS = 256;

/**
 * `response_format: {type: "json_schema", json_schema: {strict: true, schema}}` checked by the
 * gateway on every adapter: the final answer must parse as JSON and conform (ajv), or the attempt
 * fails with kind `schema_mismatch` (the failure table moves on to the next target; after the
 * last, 502 TL_ERR_AI_SCHEMA_MISMATCH, or on a stream the in-band error instead of the end).
 * Whatever the upstream does natively (OpenAI's strict mode, Ollama's format, Gemini's
 * responseSchema, Anthropic's forced tool) is not trusted to be exact.
 */
export class SchemaChecks {
  readonly #ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
  readonly #compiled = new Map<string, ValidateFunction>();

  /** The validator of a request's strict schema; undefined when it asks for none. */
  validatorFor(request: ChatRequest, ctx: CallContext): ValidateFunction | undefined {
    const rf = request.response_format;
    if (!isObj(rf) || rf.type !== 'json_schema' || !isObj(rf.json_schema) || rf.json_schema.strict !== true) return undefined;
    const schema = rf.json_schema.schema;
    if (!isObj(schema))
      throw providerError('bad_request', ctx, 'response_format.json_schema.schema must be a JSON Schema object when strict is true');
    const key = JSON.stringify(schema);
    let v = this.#compiled.get(key);
    if (!v) {
      try {
        v = this.#ajv.compile(schema);
      } catch (err) {
        throw providerError(
          'bad_request',
          ctx,
          `response_format.json_schema.schema is not a valid JSON Schema: ${(err as Error).message.slice(0, 200)}`,
        );
      }
      if (this.#compiled.size >= MAX_SCHEMAS) this.#compiled.delete(this.#compiled.keys().next().value!);
      this.#compiled.set(key, v);
    }
    return v;
  }
}

/** Why `text` does not conform, or undefined when it does. */
export function mismatch(validate: ValidateFunction, text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the answer is not JSON';
  }
  if (validate(value)) return undefined;
  const e = validate.errors?.[0];
  return e ? `${e.instancePath || '(root)'} ${e.message ?? 'does not match'}` : 'it does not match';
}

function schemaError(ctx: CallContext, why: string): ProviderError {
  return providerError('schema_mismatch', ctx, `${where(ctx)} gave an answer that does not conform to the strict json_schema: ${why}`);
}

/** Wraps an adapter so strict json_schema answers are checked; everything else passes through. */
export function withSchemaChecks(inner: LanguageModel, checks: SchemaChecks): LanguageModel {
  return new SchemaCheckedModel(inner, checks);
}

class SchemaCheckedModel implements LanguageModel {
  readonly spec = PROVIDER_SPEC;
  readonly name: string;
  readonly type: string;
  readonly supportsPrefill: boolean;
  readonly doEmbed?: (o: EmbedCallOptions) => Promise<EmbedResult>;
  readonly #inner: LanguageModel;
  readonly #checks: SchemaChecks;

  constructor(inner: LanguageModel, checks: SchemaChecks) {
    this.#inner = inner;
    this.#checks = checks;
    this.name = inner.name;
    this.type = inner.type;
    this.supportsPrefill = inner.supportsPrefill;
    // Only an adapter with embeddings has doEmbed: the embeddings route looks for it.
    if (inner.doEmbed) this.doEmbed = (o) => inner.doEmbed!(o);
  }

  #ctx(o: ProviderCallOptions): CallContext {
    return { provider: this.name, model: o.request.model, keyIndex: o.keyIndex };
  }

  async doGenerate(o: ProviderCallOptions): Promise<{ completion: ChatCompletion }> {
    const ctx = this.#ctx(o);
    const validate = this.#checks.validatorFor(o.request, ctx);
    const out = await this.#inner.doGenerate(o);
    if (!validate) return out;
    const msg = out.completion.choices[0]?.message;
    // An answer that called tools instead of answering is not a schema answer.
    if (Array.isArray((msg as { tool_calls?: unknown } | undefined)?.tool_calls)) return out;
    const why = mismatch(validate, (o.prefill ?? '') + (typeof msg?.content === 'string' ? msg.content : ''));
    if (why) throw schemaError(ctx, why);
    return out;
  }

  async doStream(o: ProviderCallOptions): Promise<AsyncIterable<StreamPart>> {
    const ctx = this.#ctx(o);
    const validate = this.#checks.validatorFor(o.request, ctx);
    const parts = await this.#inner.doStream(o);
    if (!validate) return parts;
    return checkStream(parts, validate, ctx, o.prefill ?? '');
  }

  doListModels(o: { apiKey?: string; signal: AbortSignal; timeouts: PhaseTimeouts }): Promise<string[]> {
    return this.#inner.doListModels(o);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** Passes the parts on; at the finish, a non-conforming text becomes the stream's error part instead. */
async function* checkStream(
  parts: AsyncIterable<StreamPart>,
  validate: ValidateFunction,
  ctx: CallContext,
  prefill: string,
): AsyncGenerator<StreamPart> {
  let text = prefill;
  let tools = false;
  for await (const p of parts) {
    if (p.type === 'text-delta') text += p.text;
    else if (p.type === 'tool-call-delta') tools = true;
    else if (p.type === 'finish' && !tools) {
      const why = mismatch(validate, text);
      if (why) {
        yield { type: 'error', error: schemaError(ctx, why) };
        return;
      }
    }
    yield p;
  }
}
