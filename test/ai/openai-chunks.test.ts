import { describe, expect, it } from 'vitest';
import { addToolCallPiece, chunk, replay, streamedMessage, upstreamRequest } from '../../src/ai/openai-chunks.js';
import type { ToolCall } from '../../src/ai/stream-flight.js';
import type { ChatChunk, ChatCompletion } from '../../src/ai/types.js';

/** The pure chunk work of the orchestrator, without sockets (issue #13 point 3). */
describe('openai-chunks', () => {
  it('upstreamRequest sets the upstream model id, asks a stream for usage and drops stream_options otherwise', () => {
    const req = {
      model: 'alias',
      messages: [{ role: 'user' as const, content: 'hi' }],
      stream_options: { include_usage: false },
      temperature: 0,
    };
    expect(upstreamRequest(req, 'gpt-4.1', true)).toEqual({
      ...req,
      model: 'gpt-4.1',
      stream: true,
      stream_options: { include_usage: true },
    });
    const plain = upstreamRequest(req, 'gpt-4.1', false);
    expect(plain).toEqual({ model: 'gpt-4.1', messages: req.messages, temperature: 0, stream: false });
    expect(req.model).toBe('alias'); // the caller's request is not changed
  });

  it('addToolCallPiece puts calls together piece by piece and returns each piece as a delta carries it', () => {
    const calls: ToolCall[] = [];
    expect(addToolCallPiece(calls, { index: 0, id: 'call_1', name: 'get_', arguments: '' })).toEqual({
      index: 0,
      id: 'call_1',
      type: 'function',
      function: { name: 'get_', arguments: '' },
    });
    expect(addToolCallPiece(calls, { index: 0, name: 'weather', arguments: '{"city":' })).toEqual({
      index: 0,
      function: { name: 'weather', arguments: '{"city":' },
    });
    addToolCallPiece(calls, { index: 0, arguments: '"Oslo"}' });
    addToolCallPiece(calls, { index: 1, id: 'call_2', name: 'time', arguments: '{}' });
    expect(calls).toEqual([
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
      { id: 'call_2', type: 'function', function: { name: 'time', arguments: '{}' } },
    ]);
  });

  it('streamedMessage: text alone, or tool calls with null content when no text came', () => {
    expect(streamedMessage('hello', [])).toEqual({ role: 'assistant', content: 'hello' });
    const calls: ToolCall[] = [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }];
    expect(streamedMessage('', calls)).toEqual({ role: 'assistant', content: null, tool_calls: calls });
    // A hole left by a piece with a later index is skipped.
    const sparse: ToolCall[] = [];
    sparse[1] = calls[0]!;
    expect(streamedMessage('so', sparse)).toEqual({ role: 'assistant', content: 'so', tool_calls: [calls[0]] });
  });

  it('chunk is one OpenAI chunk of the first choice', () => {
    expect(chunk('id1', 7, 'm', { content: 'x' }, null)).toEqual({
      id: 'id1',
      object: 'chat.completion.chunk',
      created: 7,
      model: 'm',
      choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }],
    });
  });

  it('replay plays a cached answer back as a stream: text, tool calls, finish, usage when asked', async () => {
    const c: ChatCompletion = {
      id: 'cmpl',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'hi',
            tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 },
    };
    const out: ChatChunk[] = [];
    for await (const ch of replay(c, true)) out.push(ch);
    expect(out.map((ch) => ch.choices[0]?.delta ?? null)).toEqual([
      { role: 'assistant', content: 'hi' },
      { tool_calls: [{ index: 0, id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      {},
      null, // the usage chunk has no choices, as OpenAI sends it
    ]);
    expect(out[2]!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(out.at(-1)!.usage).toEqual(c.usage);
    const noUsage: ChatChunk[] = [];
    for await (const ch of replay(c, false)) noUsage.push(ch);
    expect(noUsage).toHaveLength(3);
  });
});
