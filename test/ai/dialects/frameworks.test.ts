/**
 * The Vercel AI SDK and LangChain pointed at tasklane on loopback, as their users write it:
 * `ai` with @ai-sdk/openai-compatible (generateText, streamText, generateObject, embed) and
 * @ai-sdk/anthropic against /v1/messages (generateText, streamText, a tool call); LangChain's
 * ChatOpenAI (invoke, stream). Plus a failure each: a 429 failover and a cut stream.
 */
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI } from '@langchain/openai';
import { embed, generateObject, generateText, jsonSchema, streamText, tool } from 'ai';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { mockVector } from '../../support/mock-provider/embeddings.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';
import { aiConfig } from '../fixtures.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

async function start() {
  mock = await startMockProvider();
  t = await testServer(
    aiConfig(mock.url, {
      models: {
        emb: [{ provider: 'a', model: 'embed-mock' }],
        limited: [
          { provider: 'a', model: 'gpt-mock@429-always' },
          { provider: 'b', model: 'gpt-mock' },
        ],
        cut: [{ provider: 'b', model: 'gpt-mock@cut' }],
      } as never,
    }),
  );
  return t.url;
}

describe('Vercel AI SDK with @ai-sdk/openai-compatible', () => {
  it('generateText, streamText, generateObject and embed', async () => {
    const url = await start();
    const tl = createOpenAICompatible({
      name: 'tasklane',
      baseURL: `${url}/v1`,
      apiKey: 'unused',
      supportsStructuredOutputs: true,
      includeUsage: true,
    });
    const gen = await generateText({ model: tl('chat'), prompt: 'hello vercel', maxRetries: 0 });
    expect(gen.text).toBe('echo: hello vercel');
    expect(gen.finishReason).toBe('stop');
    expect(gen.usage.outputTokens).toBeGreaterThan(0);

    const st = streamText({ model: tl('chat'), prompt: 'stream vercel', maxRetries: 0 });
    let text = '';
    for await (const delta of st.textStream) text += delta;
    expect(text).toBe('echo: stream vercel');
    expect(await st.finishReason).toBe('stop');

    mock.respond({ text: '{"city":"Paris","population":2100000}' });
    const obj = await generateObject({
      model: tl('chat'),
      schema: z.object({ city: z.string(), population: z.number().int() }),
      prompt: 'biggest city?',
      maxRetries: 0,
    });
    expect(obj.object).toEqual({ city: 'Paris', population: 2100000 });
    expect(mock.calls.at(-1)!.body.response_format).toMatchObject({
      type: 'json_schema',
      json_schema: { schema: { type: 'object', required: ['city', 'population'] } },
    });
    mock.respond(undefined);

    const e = await embed({ model: tl.embeddingModel('emb'), value: 'vector me', maxRetries: 0 });
    expect(e.embedding).toEqual(mockVector('vector me'));
  });

  it('a 429 fails over unseen; a cut stream surfaces as an error, never as a finished text', async () => {
    const url = await start();
    const tl = createOpenAICompatible({ name: 'tasklane', baseURL: `${url}/v1`, apiKey: 'unused' });
    expect((await generateText({ model: tl('limited'), prompt: 'q', maxRetries: 0 })).text).toBe('echo: q');
    const errors: unknown[] = [];
    const st = streamText({
      model: tl('cut'),
      prompt: 'a longer question to cut',
      maxRetries: 0,
      onError: ({ error }) => void errors.push(error),
    });
    let text = '';
    for await (const delta of st.textStream) text += delta;
    expect(text.length).toBeLessThan('echo: a longer question to cut'.length);
    expect(errors).toHaveLength(1);
  });
});

describe('Vercel AI SDK with @ai-sdk/anthropic against /v1/messages', () => {
  it('generateText, streamText and a tool call', async () => {
    const url = await start();
    const claude = createAnthropic({ baseURL: `${url}/v1`, apiKey: 'unused' });
    // The SDK warns about unknown model ids ("chat" is our alias).
    (globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;
    const gen = await generateText({ model: claude('chat'), system: 'be brief', prompt: 'hello anthropic', maxRetries: 0 });
    expect(gen.text).toBe('echo: hello anthropic');
    expect(gen.finishReason).toBe('stop');
    expect(mock.calls[0]!.body.messages[0]).toEqual({ role: 'system', content: 'be brief' });

    const st = streamText({ model: claude('chat'), prompt: 'stream anthropic', maxRetries: 0 });
    let text = '';
    for await (const delta of st.textStream) text += delta;
    expect(text).toBe('echo: stream anthropic');
    expect((await st.usage).outputTokens).toBeGreaterThan(0);

    mock.respond({
      status: 200,
      body: {
        id: 'chatcmpl-x',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-mock',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      },
    });
    const withTool = await generateText({
      model: claude('chat'),
      prompt: 'weather in Oslo?',
      tools: {
        weather: tool({
          description: 'Weather',
          inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
        }),
      },
      maxRetries: 0,
    });
    expect(withTool.finishReason).toBe('tool-calls');
    expect(withTool.toolCalls).toEqual([expect.objectContaining({ toolCallId: 'call_9', toolName: 'weather', input: { city: 'Oslo' } })]);
  });
});

describe('Vercel AI SDK generateObject with @ai-sdk/anthropic against /v1/messages', () => {
  it("forces the SDK's json tool through the translation and reads the object back", async () => {
    const url = await start();
    const claude = createAnthropic({ baseURL: `${url}/v1`, apiKey: 'unused' });
    (globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;
    // The tool the SDK forces arrives upstream as the one function tool; answer with a call to it.
    mock.respond((call) => {
      const forced = call.body.tool_choice?.function?.name ?? call.body.tools?.[0]?.function?.name;
      return {
        status: 200,
        body: {
          id: 'chatcmpl-o',
          object: 'chat.completion',
          created: 1,
          model: 'gpt-mock',
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: null,
                tool_calls: [{ id: 'call_o', type: 'function', function: { name: forced, arguments: '{"city":"Oslo","days":3}' } }],
              },
              finish_reason: 'tool_calls',
            },
          ],
          usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
        },
      };
    });
    const obj = await generateObject({
      model: claude('chat'),
      schema: z.object({ city: z.string(), days: z.number() }),
      prompt: 'plan a trip',
      maxRetries: 0,
    });
    expect(obj.object).toEqual({ city: 'Oslo', days: 3 });
    const sent = mock.calls.at(-1)!.body;
    expect(sent.tools).toHaveLength(1);
    // The SDK forces its json tool with tool_choice any: required, with the one tool.
    expect(sent.tool_choice).toBe('required');
  });
});

describe('LangChain ChatOpenAI', () => {
  it('invoke and stream through the gateway', async () => {
    const url = await start();
    const llm = new ChatOpenAI({ model: 'chat', apiKey: 'unused', configuration: { baseURL: `${url}/v1` }, maxRetries: 0 });
    const answer = await llm.invoke('hello langchain');
    expect(answer.content).toBe('echo: hello langchain');
    let text = '';
    for await (const c of await llm.stream('stream langchain')) text += String(c.content);
    expect(text).toBe('echo: stream langchain');
    const limited = new ChatOpenAI({ model: 'limited', apiKey: 'unused', configuration: { baseURL: `${url}/v1` }, maxRetries: 0 });
    expect((await limited.invoke('q')).content).toBe('echo: q');
  });
});
