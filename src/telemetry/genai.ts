/**
 * Attribute names: OpenTelemetry's GenAI semantic conventions (gen-ai-spans, status Development)
 * where one exists, `tasklane.*` for what is ours. One table, so a rename in the conventions is
 * one edit.
 */
export const GENAI = {
  operation: 'gen_ai.operation.name',
  provider: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  finishReasons: 'gen_ai.response.finish_reasons',
  maxTokens: 'gen_ai.request.max_tokens',
  temperature: 'gen_ai.request.temperature',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  errorType: 'error.type',
  /** Index of the provider key used (never the key). */
  keyIndex: 'tasklane.ai.key_index',
  /** Attempt number within the request, from 1. */
  attempt: 'tasklane.ai.attempt',
  /** How the attempt ended: `ok` or its failure class (rate_limit, server, timeout-first-byte...). */
  outcome: 'tasklane.ai.outcome',
  /** What the failure policy did next: retry (same target), next (another target or key), wait, final. */
  decision: 'tasklane.ai.decision',
  attempts: 'tasklane.ai.attempts',
  cache: 'tasklane.ai.cache',
  route: 'tasklane.ai.route',
} as const;
