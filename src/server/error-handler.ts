import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError, requestRefused, TasklaneError, toTasklaneError, ValidationError } from '../errors.js';
import type { Runtime } from '../create-runtime.js';
import { toWire, type Scrub } from './streams/wire-errors.js';

/**
 * Every error an HTTP route or Fastify itself raises goes out through `toWire`, in the route's
 * dialect (`config.dialect`, default `{error:{code,message}}`), with a TL_ERR_* code; unknown
 * routes are 404 TL_ERR_NOT_FOUND. Errors Node's HTTP parser raises before Fastify sees the
 * request (431 headers too large, 400 bad request) are answered by `clientErrorHandler`.
 */
export function installErrorHandler(app: FastifyInstance, runtime: Runtime): void {
  app.setErrorHandler((error, req, reply) => {
    const wire = toWire(fromFastifyError(error), { dialect: req.routeOptions.config?.dialect, scrub: runtime.scrub });
    if (wire.status >= 500) runtime.log.error({ err: wire.error, url: req.url }, 'request failed');
    // A stream already under way has its own error frame; nothing can be sent here any more.
    if (reply.sent || reply.raw.headersSent) return;
    return reply.code(wire.status).headers(wire.headers).send(wire.body);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const err = new NotFoundError(`no route ${req.method} ${path.length > 200 ? `${path.slice(0, 200)}…` : path}`);
    const wire = toWire(err, { scrub: runtime.scrub });
    reply.code(404).send(wire.body);
  });
}

/**
 * Fastify's `frameworkErrors`: errors its router raises before any route or hook runs (a bad
 * URL encoding, a path segment past maxParamLength), answered like every other error.
 */
export function frameworkErrors(scrub: Scrub): (error: Error, req: FastifyRequest, reply: FastifyReply) => void {
  return (error, _req, reply) => {
    const wire = toWire(fromFastifyError(error), { scrub });
    reply.code(wire.status).headers(wire.headers).send(wire.body);
  };
}

/** Fastify's own errors (FST_ERR_*, validation, a status set by a plugin) as typed errors. */
export function fromFastifyError(error: unknown): TasklaneError {
  if (TasklaneError.isInstance(error)) return error;
  const e = error as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  const message = typeof e.message === 'string' && e.message ? e.message : undefined;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return requestRefused('TL_ERR_BODY_TOO_LARGE', `${message ?? 'request body is too large'} (server.bodyLimitBytes)`);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return requestRefused(
        'TL_ERR_URI_TOO_LONG',
        'a path segment of the URL is longer than the longest id the routes accept (200 characters)',
      );
    case 'FST_ERR_BAD_URL':
      return new ValidationError('the URL is not valid (bad percent-encoding?)');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return requestRefused('TL_ERR_UNSUPPORTED_MEDIA_TYPE', 'unsupported content-type: send the body as application/json');
  }
  if (e.validation) return new ValidationError(message ?? 'invalid request');
  const status = e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const make = STATUS_ERRORS[status];
    if (make) return make(message ?? errorCodeMessage(status));
    return new ValidationError(message ?? 'bad request', { httpStatus: status });
  }
  return toTasklaneError(error);
}

const STATUS_ERRORS: Partial<Record<number, (message: string) => TasklaneError>> = {
  400: (m) => new ValidationError(m),
  404: (m) => new NotFoundError(m),
  413: (m) => requestRefused('TL_ERR_BODY_TOO_LARGE', m),
  414: (m) => requestRefused('TL_ERR_URI_TOO_LONG', m),
  415: (m) => requestRefused('TL_ERR_UNSUPPORTED_MEDIA_TYPE', m),
  431: (m) => requestRefused('TL_ERR_HEADERS_TOO_LARGE', m),
};

function errorCodeMessage(status: number): string {
  return (STATUS_CODES[status] ?? 'bad request').toLowerCase();
}

/**
 * Fastify's `clientErrorHandler`: Node's parser refused the request (headers past 16 KiB, a
 * malformed request line). Answers in the one error shape and closes the connection.
 */
export function clientErrorHandler(scrub: Scrub): (err: { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    if (!socket.writable) return socket.destroy();
    let e: TasklaneError;
    if (err.code === 'HPE_HEADER_OVERFLOW')
      e = requestRefused('TL_ERR_HEADERS_TOO_LARGE', 'the request headers are larger than 16 KiB; send fewer or shorter headers');
    else if (err.code === 'HPE_URI_TOO_LONG') e = requestRefused('TL_ERR_URI_TOO_LONG', 'the request URL is too long');
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') e = new ValidationError('the request took too long to arrive', { httpStatus: 408 });
    else e = new ValidationError('the request is not valid HTTP');
    const wire = toWire(e, { scrub });
    const body = JSON.stringify(wire.body);
    socket.end(
      `HTTP/1.1 ${wire.status} ${STATUS_CODES[wire.status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };
}
