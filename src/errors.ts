// Over 350 lines: the one table of every code plus its classes and factories, so errors stay in one place.
/**
 * Every error tasklane throws, in one table. A code is `TL_ERR_<AREA>_<WHAT>`, never reused once
 * published (docs/errors.md lists them; test/errors.test.ts checks both agree).
 *
 * Errors lose their prototype when they cross a worker thread or a process, so each one can be
 * serialized with `toJSON()` and rebuilt from its code with `errorFromJSON()`.
 */

const MARKER = Symbol.for('tasklane.error');

export interface ErrorSpec {
  /** HTTP status the server answers with. */
  readonly status: number;
  /** Whether trying again (later, elsewhere) can succeed. */
  readonly retryable: boolean;
  /** Default message; callers usually pass a more precise one. */
  readonly message: string;
}

export const errorCodes = {
  // config
  TL_ERR_CONFIG_INVALID: { status: 500, retryable: false, message: 'invalid configuration' },
  TL_ERR_CONFIG_SECRET_MISSING: { status: 500, retryable: false, message: 'a secret could not be resolved' },
  TL_ERR_CONFIG_FILE: { status: 500, retryable: false, message: 'the configuration file could not be read' },
  // runtime
  TL_ERR_RUNTIME_CLOSED: { status: 503, retryable: true, message: 'the runtime is closed or closing' },
  TL_ERR_RUNTIME_CLOSE_TIMEOUT: { status: 500, retryable: false, message: 'close did not finish before its deadline' },
  TL_ERR_RUNTIME_STATE: { status: 500, retryable: false, message: 'the runtime is not in a state that allows this' },
  // lanes
  TL_ERR_LANE_FULL: { status: 429, retryable: true, message: 'the lane queue is full' },
  TL_ERR_LANE_TIMEOUT: { status: 504, retryable: true, message: 'the lane timed out' },
  TL_ERR_LANE_UNKNOWN: { status: 500, retryable: false, message: 'no lane has that name' },
  TL_ERR_LANE_THREAD_CRASHED: { status: 500, retryable: true, message: 'the worker thread running the task crashed' },
  TL_ERR_LANE_INVALID_WORK: { status: 500, retryable: false, message: 'the work given to the lane cannot run there' },
  TL_ERR_TASK_FAILED: { status: 500, retryable: true, message: 'the task threw an error' },
  TL_ERR_TASK_MODULE_SIDE_EFFECT: {
    status: 500,
    retryable: false,
    message: 'a task module started a runtime or server when a worker thread imported it',
  },
  TL_ERR_ABORTED: { status: 499, retryable: false, message: 'the operation was aborted' },
  // generic request errors
  TL_ERR_VALIDATION: { status: 400, retryable: false, message: 'invalid input' },
  TL_ERR_NOT_FOUND: { status: 404, retryable: false, message: 'not found' },
  TL_ERR_AUTH_MISSING: { status: 401, retryable: false, message: 'missing API key: send Authorization: Bearer <key>' },
  TL_ERR_AUTH_INVALID: { status: 401, retryable: false, message: 'invalid API key' },
  TL_ERR_AUTH_FORBIDDEN: { status: 403, retryable: false, message: 'this key may not do that' },
  TL_ERR_BODY_TOO_LARGE: { status: 413, retryable: false, message: 'request body is too large' },
  TL_ERR_RATE_LIMITED: { status: 429, retryable: true, message: 'too many requests' },
  TL_ERR_INTERNAL: { status: 500, retryable: false, message: 'internal error' },
  TL_ERR_URI_TOO_LONG: { status: 414, retryable: false, message: 'the request URL is too long' },
  TL_ERR_HEADERS_TOO_LARGE: { status: 431, retryable: false, message: 'the request headers are too large' },
  TL_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, message: 'send the body as application/json' },
  TL_ERR_HOST_REFUSED: { status: 403, retryable: false, message: 'the Host header names no address this server answers to' },
  TL_ERR_ORIGIN_REFUSED: { status: 403, retryable: false, message: 'requests from this Origin are refused' },
  // ai
  TL_ERR_AI_UNKNOWN_MODEL: { status: 404, retryable: false, message: 'unknown model' },
  TL_ERR_AI_PROVIDER: { status: 502, retryable: true, message: 'the provider failed' },
  TL_ERR_AI_BAD_REQUEST: { status: 400, retryable: false, message: 'the provider rejected the request' },
  TL_ERR_AI_CONTEXT_LENGTH: { status: 400, retryable: false, message: 'the request exceeds the model context length' },
  TL_ERR_AI_CONTENT_FILTER: { status: 400, retryable: false, message: 'the provider filtered the content' },
  TL_ERR_AI_RATE_LIMITED: { status: 429, retryable: true, message: 'every key is cooling down' },
  TL_ERR_AI_AUTH: { status: 502, retryable: true, message: 'the provider refused the API key' },
  TL_ERR_AI_REFUSED: { status: 403, retryable: false, message: 'the provider refused this key access to the model' },
  TL_ERR_AI_TIMEOUT: { status: 504, retryable: true, message: 'the provider timed out' },
  TL_ERR_AI_STREAM_BROKEN: { status: 502, retryable: true, message: 'the provider stream broke' },
  TL_ERR_AI_ALL_FAILED: { status: 502, retryable: true, message: 'every target failed' },
  TL_ERR_AI_NO_KEY: { status: 503, retryable: true, message: 'no usable key for the provider' },
  TL_ERR_AI_CIRCUIT_OPEN: { status: 503, retryable: true, message: 'the circuit breaker is open' },
  TL_ERR_AI_SCHEMA_MISMATCH: {
    status: 502,
    retryable: true,
    message: 'the answer does not conform to the strict json_schema of response_format',
  },
  TL_ERR_AI_UNSUPPORTED: { status: 400, retryable: false, message: 'no target of the model supports this kind of request' },
  TL_ERR_AI_BUDGET_EXCEEDED: { status: 429, retryable: true, message: 'the client key is past its budget or token limit' },
  // jobs
  TL_ERR_JOB_UNKNOWN_TASK: { status: 404, retryable: false, message: 'no task has that name' },
  TL_ERR_JOB_NOT_FOUND: { status: 404, retryable: false, message: 'no job has that id' },
  TL_ERR_JOB_STATE: { status: 409, retryable: false, message: 'the job is not in a state that allows this' },
  TL_ERR_JOB_LEASE_LOST: { status: 409, retryable: true, message: 'the job lease was lost to another worker' },
  TL_ERR_JOB_NON_RETRYABLE: { status: 500, retryable: false, message: 'the task failed and asked not to be retried' },
  TL_ERR_JOB_CANCELLED: { status: 409, retryable: false, message: 'the job was cancelled' },
  TL_ERR_JOB_FAILED: { status: 500, retryable: true, message: 'the task failed' },
  TL_ERR_JOB_STEP_MISMATCH: {
    status: 500,
    retryable: false,
    message: "the job's workflow calls came in another order than the journal recorded",
  },
  TL_ERR_JOB_STEP_RESULT_TOO_LARGE: { status: 500, retryable: false, message: 'a step result is larger than jobs.maxStepResultBytes' },
  TL_ERR_JOB_STEP_TIMEOUT: { status: 504, retryable: true, message: 'a step ran longer than its timeoutMs' },
  TL_ERR_JOB_SIGNAL_TIMEOUT: { status: 504, retryable: false, message: 'no signal arrived before the wait timed out' },
  TL_ERR_JOB_CHILD_FAILED: { status: 500, retryable: false, message: 'a child job ended dead or cancelled' },
  TL_ERR_JOB_WORKFLOW_UNSUPPORTED: { status: 500, retryable: false, message: 'workflow calls are not available here' },
  TL_ERR_JOB_LIMIT_KEY: { status: 400, retryable: false, message: "the task's limit key failed for this input" },
  TL_ERR_SCHEDULE_EXISTS: { status: 409, retryable: false, message: 'a schedule with that name already exists' },
  TL_ERR_STORE_UNAVAILABLE: { status: 503, retryable: true, message: 'the job store is unavailable' },
  TL_ERR_STORE_READONLY: { status: 503, retryable: true, message: 'the job store cannot be written' },
  TL_ERR_STORE_FULL: { status: 503, retryable: true, message: 'the disk holding the job store is full' },
  TL_ERR_STORE_IO: { status: 503, retryable: true, message: 'the job store hit a disk I/O error' },
  TL_ERR_STORE_TOO_NEW: { status: 500, retryable: false, message: 'the job store was written by a newer tasklane' },
  // streams and the HTTP client
  TL_ERR_AUTH_TOKEN_INVALID: { status: 401, retryable: false, message: 'invalid stream token: mint a new one with POST /v1/tokens' },
  TL_ERR_AUTH_TOKEN_EXPIRED: {
    status: 401,
    retryable: false,
    message: 'the stream token has expired: mint a new one with POST /v1/tokens',
  },
  TL_ERR_AUTH_REVOKED: { status: 401, retryable: false, message: 'the client key was revoked by a configuration reload' },
  TL_ERR_CLIENT_NETWORK: { status: 503, retryable: true, message: 'the tasklane server could not be reached' },
  TL_ERR_CLIENT_PROTOCOL: { status: 502, retryable: true, message: 'the server answered something the client does not understand' },
  // resources
  TL_ERR_RESOURCE_UNKNOWN: { status: 500, retryable: false, message: 'no resource has that name' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCodes;

export interface TasklaneErrorOptions {
  cause?: unknown;
  /** Facts a handler needs (lane name, limit, provider, key index...). Never secrets. */
  details?: Record<string, unknown>;
  /** Overrides the table's HTTP status. */
  httpStatus?: number;
  /** Overrides the table's retryable flag. */
  retryable?: boolean;
}

export interface SerializedError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  httpStatus?: number;
  retryable?: boolean;
  name?: string;
}

export class TasklaneError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;
  readonly [MARKER] = true;

  constructor(code: ErrorCode, message?: string, options: TasklaneErrorOptions = {}) {
    const spec: ErrorSpec = errorCodes[code];
    super(message ?? spec.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = options.httpStatus ?? spec.status;
    this.retryable = options.retryable ?? spec.retryable;
    this.details = options.details ?? {};
  }

  /** Works across duplicated package copies and threads, where `instanceof` fails. */
  static isInstance(err: unknown): err is TasklaneError {
    return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[MARKER] === true;
  }

  toJSON(): SerializedError {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      details: this.details,
      httpStatus: this.httpStatus,
      retryable: this.retryable,
    };
  }
}

// The named classes: one per concept a caller may want to catch.

export class ConfigError extends TasklaneError {
  constructor(
    message: string,
    options: TasklaneErrorOptions & { code?: 'TL_ERR_CONFIG_INVALID' | 'TL_ERR_CONFIG_SECRET_MISSING' | 'TL_ERR_CONFIG_FILE' } = {},
  ) {
    super(options.code ?? 'TL_ERR_CONFIG_INVALID', message, options);
  }
}

export class ClosedError extends TasklaneError {
  constructor(what = 'runtime', options: TasklaneErrorOptions = {}) {
    super('TL_ERR_RUNTIME_CLOSED', `the ${what} is closed or closing`, options);
  }
}

export class LaneFullError extends TasklaneError {
  constructor(lane: string, maxQueue: number, options: TasklaneErrorOptions = {}) {
    super('TL_ERR_LANE_FULL', `lane "${lane}" is full: ${maxQueue} tasks already wait (lanes.${lane}.maxQueue)`, {
      ...options,
      details: { lane, maxQueue, ...options.details },
    });
  }
}

export class LaneTimeoutError extends TasklaneError {
  constructor(lane: string, timeoutMs: number, phase: 'queued' | 'running', options: TasklaneErrorOptions = {}) {
    super('TL_ERR_LANE_TIMEOUT', `lane "${lane}" timed out after ${timeoutMs} ms while ${phase}`, {
      ...options,
      details: { lane, timeoutMs, phase, ...options.details },
    });
  }
}

export class AbortError extends TasklaneError {
  constructor(message = 'the operation was aborted', options: TasklaneErrorOptions = {}) {
    super('TL_ERR_ABORTED', message, options);
  }
}

export class ValidationError extends TasklaneError {
  constructor(message: string, options: TasklaneErrorOptions = {}) {
    super('TL_ERR_VALIDATION', message, options);
  }
}

export class NotFoundError extends TasklaneError {
  constructor(
    message: string,
    options: TasklaneErrorOptions & {
      code?: 'TL_ERR_NOT_FOUND' | 'TL_ERR_JOB_NOT_FOUND' | 'TL_ERR_JOB_UNKNOWN_TASK' | 'TL_ERR_AI_UNKNOWN_MODEL';
    } = {},
  ) {
    super(options.code ?? 'TL_ERR_NOT_FOUND', message, options);
  }
}

/** Thrown by a task to fail now and skip the remaining attempts. */
export class NonRetryableError extends TasklaneError {
  constructor(message: string, options: TasklaneErrorOptions = {}) {
    super('TL_ERR_JOB_NON_RETRYABLE', message, { ...options, retryable: false });
  }
}

/** One failed upstream attempt: provider, model, key index, status, Retry-After. */
export class ProviderError extends TasklaneError {}

/** Every target failed; `details.attempts` lists each attempt and `details.reason` why it stopped. */
export class AllTargetsFailedError extends TasklaneError {}

export class JobError extends TasklaneError {}

export class StoreError extends TasklaneError {}

// Named factories for failures without a class of their own: each message shape and its details
// are written once. New failures get a code and, when they recur, a factory here (not a class).

/** 404 TL_ERR_JOB_NOT_FOUND: no job has that id (or the caller may not see it: the same answer). */
export function jobNotFound(jobId: string): NotFoundError {
  return new NotFoundError(`no job has the id ${jobId}`, { code: 'TL_ERR_JOB_NOT_FOUND', details: { jobId } });
}

/** TL_ERR_LANE_INVALID_WORK: the work given to a lane cannot run there (a closure on a thread lane, a bad module...). */
export function invalidWork(message: string, options: TasklaneErrorOptions = {}): TasklaneError {
  return new TasklaneError('TL_ERR_LANE_INVALID_WORK', message, options);
}

/** TL_ERR_RUNTIME_STATE: the runtime is not in a state that allows this. */
export function runtimeStateError(message: string, options: TasklaneErrorOptions = {}): TasklaneError {
  return new TasklaneError('TL_ERR_RUNTIME_STATE', message, options);
}

/** TL_ERR_INTERNAL: a failure of tasklane itself; pass what went wrong as `cause`. */
export function internalError(message: string, options: TasklaneErrorOptions = {}): TasklaneError {
  return new TasklaneError('TL_ERR_INTERNAL', message, options);
}

/** The codes of a refused caller: no key, a wrong key, a scope or job the key does not cover, a stream token. */
export type AuthCode = Extract<ErrorCode, `TL_ERR_AUTH_${string}`>;

/** 401/403 TL_ERR_AUTH_*: who the caller is, or what it may do, does not allow this; the table's message unless told. */
export function authError(code: AuthCode, message?: string, options: TasklaneErrorOptions = {}): TasklaneError {
  return new TasklaneError(code, message, options);
}

/** 429 TL_ERR_RATE_LIMITED: a limit of this server (not a provider's); `details.retryAfterMs` sets Retry-After. */
export function rateLimited(message: string, retryAfterMs: number, details: Record<string, unknown> = {}): TasklaneError {
  return new TasklaneError('TL_ERR_RATE_LIMITED', message, { details: { retryAfterMs, ...details } });
}

/** 429 TL_ERR_AI_BUDGET_EXCEEDED: a client key past its budget or token limit, refused before any provider call; Retry-After until the reset. */
export function budgetExceeded(message: string, retryAfterMs: number, details: Record<string, unknown> = {}): TasklaneError {
  return new TasklaneError('TL_ERR_AI_BUDGET_EXCEEDED', message, { details: { retryAfterMs, ...details } });
}

/** The codes the HTTP edge answers a malformed or unwelcome request with, before any route runs. */
export type RequestRefusedCode =
  | 'TL_ERR_BODY_TOO_LARGE'
  | 'TL_ERR_URI_TOO_LONG'
  | 'TL_ERR_HEADERS_TOO_LARGE'
  | 'TL_ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'TL_ERR_HOST_REFUSED'
  | 'TL_ERR_ORIGIN_REFUSED';

/** 4xx at the HTTP edge: the request's size, type, Host or Origin is refused. */
export function requestRefused(code: RequestRefusedCode, message?: string): TasklaneError {
  return new TasklaneError(code, message);
}

/** The AI codes without a class of their own (ProviderError and AllTargetsFailedError cover the rest). */
export type AiCode = 'TL_ERR_AI_TIMEOUT' | 'TL_ERR_AI_RATE_LIMITED' | 'TL_ERR_AI_UNSUPPORTED' | 'TL_ERR_AI_PROVIDER';

/** A failure of an AI call told by tasklane rather than a provider's answer: a budget spent, no target able to serve. */
export function aiError(code: AiCode, message: string, options: TasklaneErrorOptions = {}): TasklaneError {
  return new TasklaneError(code, message, options);
}

/** The codes of work that could not run, or ran and failed, in a lane or its threads. */
export type WorkCode =
  | 'TL_ERR_LANE_UNKNOWN'
  | 'TL_ERR_LANE_THREAD_CRASHED'
  | 'TL_ERR_TASK_FAILED'
  | 'TL_ERR_TASK_MODULE_SIDE_EFFECT'
  | 'TL_ERR_RESOURCE_UNKNOWN';

/** A lane, a thread, a task or a resource it needs failed the work (lane timeouts and full lanes have classes). */
export function workError(code: WorkCode, message: string, options: TasklaneErrorOptions = {}): TasklaneError {
  return new TasklaneError(code, message, options);
}

/** The codes of the job system's own refusals: workflows, limits and schedules (a missing job is jobNotFound). */
export type JobsCode = Extract<ErrorCode, `TL_ERR_JOB_${string}` | `TL_ERR_SCHEDULE_${string}`>;

/** A job, a workflow call, a limit key or a schedule that the job system refuses or cannot serve. */
export function jobsError(code: JobsCode, message: string, options: TasklaneErrorOptions = {}): TasklaneError {
  return new TasklaneError(code, message, options);
}

/** The same failure with more said about where it happened: code, details and status kept, the original as `cause`. */
export function withContext(err: TasklaneError, message: string): TasklaneError {
  return new TasklaneError(err.code, message, { cause: err, details: err.details, httpStatus: err.httpStatus, retryable: err.retryable });
}

const classes: Record<string, new (code: ErrorCode, message?: string, options?: TasklaneErrorOptions) => TasklaneError> = {
  ProviderError,
  AllTargetsFailedError,
  JobError,
  StoreError,
};

/** Rebuilds an error that crossed a thread or process boundary. Unknown codes become TL_ERR_INTERNAL. */
export function errorFromJSON(value: SerializedError): TasklaneError {
  const code = (typeof value.code === 'string' && Object.hasOwn(errorCodes, value.code) ? value.code : 'TL_ERR_INTERNAL') as ErrorCode;
  const Ctor = (typeof value.name === 'string' && Object.hasOwn(classes, value.name) && classes[value.name]) || TasklaneError;
  const err = new Ctor(code, value.message, {
    details: value.details,
    httpStatus: value.httpStatus,
    retryable: value.retryable,
  });
  if (value.name && value.name !== err.name) {
    Object.defineProperty(err, 'name', { value: value.name, enumerable: false, configurable: true, writable: true });
  }
  return err;
}

/** Wraps anything thrown into a TasklaneError, keeping the original as `cause`. */
export function toTasklaneError(err: unknown, code: ErrorCode = 'TL_ERR_INTERNAL'): TasklaneError {
  if (TasklaneError.isInstance(err)) return err;
  if (err instanceof Error && err.name === 'AbortError') return new AbortError(err.message, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new TasklaneError(code, message, { cause: err });
}

/** The HTTP body for an error: `{ error: { code, message } }`, plus details that are safe to show. */
export function errorBody(err: TasklaneError): { error: { code: string; message: string; details?: Record<string, unknown> } } {
  const body: { code: string; message: string; details?: Record<string, unknown> } = { code: err.code, message: err.message };
  if (Object.keys(err.details).length > 0) body.details = err.details;
  return { error: body };
}
