// The practical ceiling for a gateway: node:http in, an undici Pool out, bytes piped through
// with no parsing. Usage: node passthrough-proxy.js <upstream-origin>
import { createServer } from 'node:http';
import { Pool } from 'undici';

const pool = new Pool(process.argv[2], { connections: 128, pipelining: 1 });
const server = createServer(async (req, res) => {
  try {
    const up = await pool.request({
      method: req.method,
      path: req.url,
      headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' },
      body: req,
    });
    res.writeHead(up.statusCode, { 'content-type': up.headers['content-type'] ?? 'application/json' });
    for await (const chunk of up.body) res.write(chunk);
    res.end();
  } catch (err) {
    res.writeHead(502).end(String(err));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => pool.close().then(() => process.exit(0))));
