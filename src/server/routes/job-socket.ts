import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';
import { EventFrames } from '../event-frames.js';
import { TENANT_HEADER, viewerOf, type ViewingPrincipal } from '../ownership.js';
import { SocketSession } from '../socket-session.js';
import { StreamSlots } from '../stream-slots.js';
import { closeReason } from '../streams/wire-errors.js';
import { FlushQueue } from '../flush-queue.js';
import { WriteBatcher } from '../write-batcher.js';

/** Close code sent to every socket when the server shuts down (clients reconnect elsewhere or later). */
const GOING_AWAY = 1001;
/** Close code for a socket whose client key a configuration reload revoked (reason: TL_ERR_AUTH_REVOKED). */
export const KEY_REVOKED = 4401;

/**
 * GET /v1/ws: follow many jobs over one WebSocket. Client messages `{op:'subscribe', jobId,
 * fromSeq?}` and `{op:'unsubscribe', jobId}`; the server sends `{type:'subscribed'|'unsubscribed',
 * jobId}`, `{type:'event', event}` and `{type:'error', jobId?, error:{code,message}}`. Pings every
 * `server.streams.heartbeatMs`; a peer that missed the previous pong is dropped.
 */
export async function jobSocketRoutes(
  app: FastifyInstance,
  ctx: ServerContext,
  onRequest: (req: FastifyRequest) => Promise<void>,
  gauge: { inc(): void; dec(): void },
): Promise<void> {
  const { runtime } = ctx;
  const streams = runtime.config.server.streams;
  const frames = new EventFrames(runtime.scrub);
  const batcher = new WriteBatcher();
  const queue = new FlushQueue();
  const sessions = new Map<import('ws').WebSocket, SocketSession>();
  // Sockets per key and in all, taken before the upgrade (a refusal is a plain 429) and given
  // back when the TCP socket closes, however the WebSocket ended.
  const socketSlots = new StreamSlots(streams.maxSocketsPerKey, {
    setting: 'server.streams.maxSocketsPerKey',
    noun: 'open WebSockets',
    total: { max: streams.maxSockets, setting: 'server.streams.maxSockets' },
  });
  const subscriptionSlots = new StreamSlots(streams.maxSubscriptionsPerKey, {
    setting: 'server.streams.maxSubscriptionsPerKey',
    noun: 'WebSocket subscriptions',
  });

  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    // Closing here (not the plugin's default) so sessions end before the sockets go.
    preClose: (done) => {
      for (const [socket, session] of sessions) {
        session.dispose();
        socket.close(GOING_AWAY, 'server shutting down');
      }
      done();
    },
  });

  const pinger = setInterval(() => {
    for (const [socket, session] of sessions) {
      if (!session.alive) {
        runtime.log.info('dropping a WebSocket peer that missed a ping');
        socket.terminate();
        continue;
      }
      session.alive = false;
      socket.ping();
    }
  }, streams.heartbeatMs);
  app.addHook('onClose', async () => {
    clearInterval(pinger);
    for (const socket of sessions.keys()) socket.terminate();
  });

  const preHandler = (req: FastifyRequest, _reply: unknown, done: (err?: Error) => void): void => {
    try {
      const release = socketSlots.acquire(req.principal);
      req.raw.socket.once('close', release);
    } catch (err) {
      return done(err as Error);
    }
    done();
  };

  app.get('/v1/ws', { websocket: true, config: { public: true }, onRequest, preHandler }, (socket, req) => {
    // Checked here rather than before the upgrade so that a browser, which cannot read an HTTP
    // error on a WebSocket, still gets the reason in the close frame.
    let principal: ViewingPrincipal;
    try {
      ctx.requireScope(req, 'jobs:read');
      // Fixed for the life of the socket: every subscription is checked against it.
      principal = { ...req.principal, viewer: viewerOf(req.principal, req.headers[TENANT_HEADER]) };
    } catch (err) {
      socket.close(1008, closeReason((err as Error).message, runtime.scrub));
      return;
    }
    const session = new SocketSession(socket, {
      // The upgraded request's TCP socket is the one the WebSocket writes to.
      raw: req.raw.socket,
      batcher,
      queue,
      jobs: runtime.jobs,
      runtime,
      principal,
      frames,
      gauge,
      subscriptionSlots,
      limits: {
        highWaterBytes: streams.wsHighWaterBytes,
        stallMs: streams.wsStallMs,
        maxSubscriptions: streams.wsMaxSubscriptions,
        messagesPerSecond: streams.wsMessagesPerSecond,
      },
    });
    sessions.set(socket, session);
    // A reload that revokes the key ends the socket: the reason as an error message, then the close frame.
    const unhold = ctx.keyring.hold(principal, (reason) => {
      if (socket.readyState === socket.OPEN)
        socket.send(JSON.stringify({ type: 'error', error: { code: reason.code, message: reason.message, retryable: false } }));
      session.dispose();
      socket.close(KEY_REVOKED, reason.code);
    });
    socket.once('close', () => {
      unhold();
      sessions.delete(socket);
    });
  });
}
