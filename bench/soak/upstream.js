// The soak's upstream: an OpenAI-compatible server whose model name picks the behaviour, so the
// soak mixes answers with failures. Prints "listening <url>" when ready.
//   bench-model  a fixed answer, plain or in five SSE chunks
//   fail-500     500 every time
//   rate         429 with retry-after: 1
//   slow         a stream of twenty chunks 50 ms apart (for client aborts)
//   cut          a stream cut after two chunks, no finish_reason, no [DONE]
import { createServer } from 'node:http';

const created = Math.floor(Date.now() / 1000);
const words = ['Hello', ' from', ' the', ' soak', ' mock.'];
const chunk = (delta, finish = null) => `data: ${JSON.stringify({ id: 'chatcmpl-soak', object: 'chat.completion.chunk', created, model: 'bench-model', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const plain = JSON.stringify({
  id: 'chatcmpl-soak',
  object: 'chat.completion',
  created,
  model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
});
const stream = words.map((w, i) => chunk(i === 0 ? { role: 'assistant', content: w } : { content: w })).join('') + chunk({}, 'stop') + 'data: [DONE]\n\n';

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
    const model = String(parsed.model);
    if (model === 'fail-500') {
      res.writeHead(500, { 'content-type': 'application/json' });
      return res.end('{"error":{"message":"upstream broke on purpose"}}');
    }
    if (model === 'rate') {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
      return res.end('{"error":{"message":"slow down"}}');
    }
    if (!parsed.stream) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(plain) });
      return res.end(plain);
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (model === 'cut') {
      res.write(chunk({ role: 'assistant', content: 'Hel' }) + chunk({ content: 'lo' }));
      return setTimeout(() => res.destroy(), 20);
    }
    if (model === 'slow') {
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        if (++i > 20) {
          clearInterval(timer);
          return res.end(chunk({}, 'stop') + 'data: [DONE]\n\n');
        }
        res.write(chunk({ content: ` w${i}` }));
      }, 50);
      res.on('close', () => clearInterval(timer));
      return;
    }
    res.end(stream);
  });
});
server.keepAliveTimeout = 5_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
