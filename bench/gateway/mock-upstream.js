// A tiny, fast OpenAI-compatible upstream for benchmarks: a fixed answer, plain or streamed in
// five SSE chunks with usage. Runs in its own process; prints "listening <url>" when ready.
// The model name can ask for a failure (used by the soak):
//   fail-500  500 every time          rate  429 with retry-after: 1
//   slow      twenty chunks 50 ms apart   cut   two chunks, then the connection drops
import { createServer } from 'node:http';

const created = Math.floor(Date.now() / 1000);
const words = ['Hello', ' from', ' the', ' bench', ' mock.'];
const plain = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created,
  model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
});
const chunk = (delta, finish = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created, model: 'bench-model', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const sse =
  words.map((w, i) => chunk(i === 0 ? { role: 'assistant', content: w } : { content: w })).join('') +
  chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created, model: 'bench-model', choices: [], usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 } })}\n\n` +
  'data: [DONE]\n\n';

/** A 256-dimension vector, the size of a small embedding model's. */
const vector = Array.from({ length: 256 }, (_, i) => Math.round(Math.sin(i) * 1e6) / 1e6);

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    if (req.url.endsWith('/models')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"object":"list","data":[{"id":"bench-model","object":"model"}]}');
    }
    let parsed;
    try {
      parsed = JSON.parse(body);
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      return res.end('{"error":{"message":"bad json"}}');
    }
    if (req.url.endsWith('/embeddings')) {
      const n = Array.isArray(parsed.input) ? parsed.input.length : 1;
      const text = JSON.stringify({
        object: 'list',
        data: Array.from({ length: n }, (_, index) => ({ object: 'embedding', index, embedding: vector })),
        model: 'bench-embed',
        usage: { prompt_tokens: 5 * n, total_tokens: 5 * n },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      return res.end(text);
    }
    if (parsed.model !== 'bench-model' && fault(parsed.model, parsed.stream === true, res)) return;
    if (parsed.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.end(sse);
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(plain) });
      res.end(plain);
    }
  });
});
/** Answers with the failure the model name asks for; false for an ordinary model. */
function fault(model, stream, res) {
  if (model === 'fail-500') {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"upstream broke on purpose"}}');
    return true;
  }
  if (model === 'rate') {
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end('{"error":{"message":"slow down"}}');
    return true;
  }
  if (!stream || (model !== 'cut' && model !== 'slow')) return false;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (model === 'cut') {
    res.write(chunk({ role: 'assistant', content: 'Hel' }) + chunk({ content: 'lo' }));
    setTimeout(() => res.destroy(), 20);
    return true;
  }
  let i = 0;
  const timer = setInterval(() => {
    if (++i > 20) {
      clearInterval(timer);
      return res.end(chunk({}, 'stop') + 'data: [DONE]\n\n');
    }
    res.write(chunk({ content: ` w${i}` }));
  }, 50);
  res.on('close', () => clearInterval(timer));
  return true;
}

// The soak sets a short one, so that idle connections are gone when it counts sockets.
server.keepAliveTimeout = Number(process.env.UPSTREAM_KEEPALIVE_MS ?? 60_000);
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
