import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadConfig } from '../../src/index.js';
import { testServer } from '../support/runtime.js';
import { TestSocket } from './routes/jobs-helpers.js';

type Server = Awaited<ReturnType<typeof testServer>>;
const SECRET = 'a-stream-token-secret-of-40-characters-xx';
const KEY = 'client-key-1234';

async function mint(url: string): Promise<string> {
  const res = await fetch(`${url}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(res.status).toBe(201);
  return (await res.json()).token;
}

async function opens(url: string, token: string): Promise<true | string> {
  const ws = new TestSocket(`${url.replace('http', 'ws')}/v1/ws?token=${encodeURIComponent(token)}`);
  try {
    await ws.opened();
    return true;
  } catch (err) {
    return (err as Error).message;
  } finally {
    ws.close();
  }
}

describe('stream tokens across servers (server.streams.tokenSecret)', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  const start = async (tokenSecret?: string) => {
    const s = await testServer({ server: { apiKeys: [KEY], streams: tokenSecret ? { tokenSecret } : {} } }, { TL_TOKEN_SECRET: SECRET });
    servers.push(s);
    return s;
  };

  it('a token minted by one server opens streams on another with the same secret, and after a restart; not elsewhere', async () => {
    const a = await start('env:TL_TOKEN_SECRET');
    const b = await start('env:TL_TOKEN_SECRET');
    const lone = await start();
    const token = await mint(a.url);
    expect(await opens(a.url, token)).toBe(true);
    expect(await opens(b.url, token)).toBe(true);
    expect(await opens(lone.url, token)).toMatch(/401/);
    // A token of the lone server is worthless on the others.
    expect(await opens(b.url, await mint(lone.url))).toMatch(/401/);
    await a.close();
    servers.splice(servers.indexOf(a), 1);
    const again = await start('env:TL_TOKEN_SECRET');
    expect(await opens(again.url, token)).toBe(true);
    // The secret is a secret: never in the logs.
    for (const s of servers) expect(s.logs.text).not.toContain(SECRET);
  });

  it('refuses a short secret at start, naming the setting', () => {
    let err: unknown;
    try {
      loadConfig({ config: { server: { streams: { tokenSecret: 'too-short' } } }, env: {}, dotenv: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('server.streams.tokenSecret');
    expect((err as ConfigError).message).not.toContain('too-short');
  });
});
