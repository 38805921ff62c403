type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON Schema keywords Gemini's `responseSchema` / function `parameters` (an OpenAPI 3.0 subset) accept. */
const KEEP = new Set([
  'type',
  'format',
  'description',
  'nullable',
  'enum',
  'properties',
  'required',
  'items',
  'minItems',
  'maxItems',
  'minimum',
  'maximum',
  'anyOf',
  'propertyOrdering',
  'title',
  'minLength',
  'maxLength',
  'pattern',
  'default',
]);

/**
 * A JSON Schema in the subset Gemini takes: unknown keywords (additionalProperties, $schema,
 * strict...) dropped, `type: ["string","null"]` as `nullable`, `const` as a one-value enum. The
 * gateway still validates the answer against the full schema when `strict` is set.
 */
export function toGeminiSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toGeminiSchema);
  if (!isObj(schema)) return schema;
  const out: Obj = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'const') out.enum = [v];
    else if (k === 'type' && Array.isArray(v)) {
      const types = v.filter((t) => t !== 'null');
      out.type = types[0] ?? 'string';
      if (types.length < v.length) out.nullable = true;
    } else if (k === 'properties' && isObj(v))
      out.properties = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, toGeminiSchema(s)]));
    else if (k === 'items' || k === 'anyOf') out[k] = toGeminiSchema(v);
    else if (KEEP.has(k)) out[k] = v;
  }
  return out;
}
