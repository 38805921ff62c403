/**
 * Network fixtures for proxy and private-CA tests: a CA and a server certificate made with
 * openssl, a TLS front for a mock provider, and a CONNECT proxy on loopback that alone knows
 * where some host names live.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';

/** A private CA and a certificate it signed for `host`; file paths and PEM text. */
export function makeCertificates(dir: string, host: string): { caFile: string; ca: string; key: string; cert: string } {
  const f = (name: string) => join(dir, name);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=tasklane test CA',
  ]);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${host}`]);
  writeFileSync(
    f('san.ext'),
    `subjectAltName=DNS:${host}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  run([
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.pem'),
    '-days',
    '2',
    '-extfile',
    f('san.ext'),
  ]);
  return {
    caFile: f('ca.pem'),
    ca: readFileSync(f('ca.pem'), 'utf8'),
    key: readFileSync(f('server.key'), 'utf8'),
    cert: readFileSync(f('server.pem'), 'utf8'),
  };
}

export interface Listening {
  port: number;
  close(): Promise<void>;
}

/** Terminates TLS with the certificate and passes the bytes to a plain-HTTP server on loopback. */
export async function tlsFront(target: number, creds: { key: string; cert: string }): Promise<Listening> {
  const sockets = new Set<Socket>();
  const server = createTlsServer(creds, (tls) => {
    const up = netConnect(target, '127.0.0.1');
    sockets.add(tls);
    sockets.add(up);
    tls.pipe(up).pipe(tls);
    const end = () => {
      tls.destroy();
      up.destroy();
    };
    tls.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => closeServer(server, sockets) };
}

/** An HTTP CONNECT proxy. `hosts` maps names only it can resolve to addresses. Records each CONNECT target. */
export async function connectProxy(hosts: Record<string, string>): Promise<Listening & { url: string; connects: string[] }> {
  const connects: string[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer((_req, res) => res.writeHead(405).end('CONNECT only'));
  server.on('connect', (req, client: Socket, head: Buffer) => {
    connects.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const up = netConnect(Number(port), hosts[host!] ?? host!);
    sockets.add(client);
    sockets.add(up);
    up.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(client).pipe(up);
    });
    const end = () => {
      client.destroy();
      up.destroy();
    };
    up.on('error', () => {
      if (client.writable) client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      end();
    });
    client.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { port, url: `http://127.0.0.1:${port}`, connects, close: () => closeServer(server, sockets) };
}

function closeServer(server: Server | ReturnType<typeof createTlsServer>, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((r) => server.close(() => r()));
}
