const MARKER = Symbol.for('tasklane.client-error');

/**
 * Every failure of the client: the server's `{error:{code,message}}` with its HTTP status, or a
 * client-side code (`TL_ERR_CLIENT_NETWORK` when the server cannot be reached,
 * `TL_ERR_CLIENT_PROTOCOL` for an answer the client does not understand, `TL_ERR_ABORTED`).
 */
export class TasklaneClientError extends Error {
  readonly code: string;
  /** HTTP status (0 when no answer came back). */
  readonly status: number;
  /** Whether trying again later can succeed. */
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;
  readonly [MARKER] = true;

  constructor(
    code: string,
    message: string,
    options: { status?: number; retryable?: boolean; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TasklaneClientError';
    this.code = code;
    this.status = options.status ?? 0;
    this.retryable = options.retryable ?? (this.status === 0 || this.status === 429 || this.status >= 500);
    if (options.details) this.details = options.details;
  }

  /** Works across duplicated package copies, where `instanceof` fails. */
  static isInstance(err: unknown): err is TasklaneClientError {
    return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[MARKER] === true;
  }
}

export function abortError(signal?: AbortSignal): TasklaneClientError {
  const reason = signal?.reason as { message?: string } | undefined;
  return new TasklaneClientError('TL_ERR_ABORTED', reason?.message ?? 'the operation was aborted', {
    status: 0,
    retryable: false,
    cause: signal?.reason,
  });
}

/** The error of a non-2xx answer; `{error:{code,message}}` when the server sent one. */
export async function errorFromResponse(res: Response): Promise<TasklaneClientError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: Record<string, unknown> } };
    if (body.error && typeof body.error.code === 'string') {
      return new TasklaneClientError(body.error.code, String(body.error.message ?? body.error.code), {
        status: res.status,
        details: body.error.details,
      });
    }
  } catch {
    // Not JSON: reported below as a protocol error with the start of the text.
  }
  return new TasklaneClientError('TL_ERR_CLIENT_PROTOCOL', `HTTP ${res.status} with an unexpected body: ${text.slice(0, 200)}`, {
    status: res.status,
  });
}
