/**
 * An in-process LanguageModel that implements the real provider spec (src/ai/provider.ts), after
 * the Vercel AI SDK's MockLanguageModelV3: it records every call, answers from a script (one step
 * for every call, a list handed out in order, or a function of the call) and injects the faults
 * the failure-class table knows, as the ProviderError an adapter would throw. With no script it
 * throws "not implemented". It lets orchestrator and dispatch logic be tested without sockets; the
 * HTTP mock (mock-provider.ts) stays the test of the adapters and the wire.
 */
import type { ProviderError } from '../../src/errors.js';
import {
  PROVIDER_SPEC,
  type EmbedCallOptions,
  type EmbedResult,
  type LanguageModel,
  type PhaseTimeouts,
  type ProviderCallOptions,
  type ProviderErrorKind,
  type StreamPart,
} from '../../src/spi.js';
import { providerError } from '../../src/ai/providers/http/provider-error.js';
import type { ChatCompletion, ChatRequest, Usage } from '../../src/ai/types.js';

/** A fault as the failure-class table sees it: thrown before the first part (or in-band, with `afterText`). */
export interface MockFault {
  fault: ProviderErrorKind;
  status?: number;
  retryAfterMs?: number;
  message?: string;
  /** On a stream: the text sent before the fault, which then arrives in-band as an `error` part. */
  afterText?: string;
}

/** A whole answer (a stream sends its text as one delta per word), or scripted stream parts. */
export type MockAnswer = { text: string; finishReason?: string; usage?: Usage } | { parts: StreamPart[] };

export type MockStep = MockAnswer | MockFault;

export interface MockCall {
  method: 'generate' | 'stream' | 'embed' | 'list';
  /** The request as the orchestrator sent it (`model` is the upstream model id). */
  request?: ChatRequest;
  keyIndex: number;
  /** True when a key was passed; the key itself is never recorded. */
  hasKey: boolean;
  prefill?: string;
  timeouts: PhaseTimeouts;
}

export interface MockLanguageModelOptions {
  /** One step for every call, steps handed out in order (then "no step left"), or a function of the call. */
  script?: MockStep | MockStep[] | ((call: MockCall, n: number) => MockStep | Promise<MockStep>);
  supportsPrefill?: boolean;
  /** What doListModels answers. */
  models?: string[];
}

export class MockLanguageModel implements LanguageModel {
  readonly spec = PROVIDER_SPEC;
  readonly type: string = 'mock';
  readonly name: string;
  readonly supportsPrefill: boolean;
  readonly calls: MockCall[] = [];
  closed = false;
  readonly #options: MockLanguageModelOptions;

  constructor(name: string, options: MockLanguageModelOptions = {}) {
    this.name = name;
    this.supportsPrefill = options.supportsPrefill ?? false;
    this.#options = options;
  }

  /** The calls that asked for a chat answer (generate or stream), in order. */
  get chatCalls(): MockCall[] {
    return this.calls.filter((c) => c.method === 'generate' || c.method === 'stream');
  }

  async doGenerate(o: ProviderCallOptions): Promise<{ completion: ChatCompletion }> {
    const call = this.#record('generate', o);
    const step = await this.#step(call);
    if ('fault' in step) throw this.#error(step, call);
    const { text, finishReason, usage } = 'parts' in step ? assemble(step.parts) : step;
    return {
      completion: {
        id: `mock-${this.calls.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: call.request!.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finishReason ?? 'stop' }],
        ...(usage ? { usage } : {}),
      },
    };
  }

  async doStream(o: ProviderCallOptions): Promise<AsyncIterable<StreamPart>> {
    const call = this.#record('stream', o);
    const step = await this.#step(call);
    let parts: StreamPart[];
    if ('fault' in step) {
      if (step.afterText === undefined) throw this.#error(step, call);
      parts = [start(call), ...words(step.afterText), { type: 'error', error: this.#error(step, call) }];
    } else if ('parts' in step) {
      parts = step.parts;
    } else {
      parts = [
        start(call),
        ...words(step.text),
        { type: 'finish', finishReason: step.finishReason ?? 'stop', ...(step.usage ? { usage: step.usage } : {}) },
      ];
    }
    const signal = o.signal;
    return (async function* () {
      for (const part of parts) {
        if (signal.aborted) return;
        yield part;
      }
    })();
  }

  async doEmbed(o: EmbedCallOptions): Promise<EmbedResult> {
    this.calls.push({ method: 'embed', keyIndex: o.keyIndex, hasKey: o.apiKey !== undefined, timeouts: o.timeouts });
    return { vectors: o.request.input.map((s) => [s.length, 1]), model: o.request.model };
  }

  async doListModels(o: { apiKey?: string; signal: AbortSignal; timeouts: PhaseTimeouts }): Promise<string[]> {
    this.calls.push({ method: 'list', keyIndex: -1, hasKey: o.apiKey !== undefined, timeouts: o.timeouts });
    return this.#options.models ?? [];
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  #record(method: 'generate' | 'stream', o: ProviderCallOptions): MockCall {
    const call: MockCall = {
      method,
      request: o.request,
      keyIndex: o.keyIndex,
      hasKey: o.apiKey !== undefined,
      timeouts: o.timeouts,
      ...(o.prefill === undefined ? {} : { prefill: o.prefill }),
    };
    this.calls.push(call);
    return call;
  }

  async #step(call: MockCall): Promise<MockStep> {
    const script = this.#options.script;
    const n = this.chatCalls.length - 1;
    if (script === undefined) throw new Error(`MockLanguageModel "${this.name}": not implemented (no script for ${call.method})`);
    if (typeof script === 'function') return script(call, n);
    if (!Array.isArray(script)) return script;
    const step = script[n];
    if (!step)
      throw new Error(`MockLanguageModel "${this.name}": no scripted step left for call ${n + 1} (the script has ${script.length})`);
    return step;
  }

  #error(step: MockFault, call: MockCall): ProviderError {
    const ctx = { provider: this.name, model: call.request?.model ?? '', keyIndex: call.keyIndex };
    return providerError(step.fault, ctx, step.message ?? `mock ${step.fault}`, {
      ...(step.status === undefined ? {} : { status: step.status }),
      ...(step.retryAfterMs === undefined ? {} : { retryAfterMs: step.retryAfterMs }),
    });
  }
}

function start(call: MockCall): StreamPart {
  return { type: 'start', id: 'mock-stream', model: call.request?.model ?? '', created: Math.floor(Date.now() / 1000) };
}

function words(text: string): StreamPart[] {
  return (text.match(/\S+\s*/g) ?? []).map((w) => ({ type: 'text-delta', text: w }));
}

function assemble(parts: StreamPart[]): { text: string; finishReason?: string; usage?: Usage } {
  let text = '';
  let finishReason: string | undefined;
  let usage: Usage | undefined;
  for (const p of parts) {
    if (p.type === 'text-delta') text += p.text;
    else if (p.type === 'finish') ({ finishReason, usage } = p);
    else if (p.type === 'error') throw p.error;
  }
  return { text, ...(finishReason ? { finishReason } : {}), ...(usage ? { usage } : {}) };
}
