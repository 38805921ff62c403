import { describe, expect, it } from 'vitest';
import {
  NotFoundError,
  TasklaneError,
  aiError,
  authError,
  errorCodes,
  errorFromJSON,
  internalError,
  invalidWork,
  jobNotFound,
  jobsError,
  rateLimited,
  requestRefused,
  runtimeStateError,
  withContext,
  workError,
} from '../src/errors.js';

describe('named error factories', () => {
  it('jobNotFound is the one 404 for a missing (or hidden) job, with its id in details', () => {
    const err = jobNotFound('j-42');
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({
      code: 'TL_ERR_JOB_NOT_FOUND',
      httpStatus: 404,
      message: 'no job has the id j-42',
      details: { jobId: 'j-42' },
    });
    // It survives a thread or process boundary with its code and details.
    expect(errorFromJSON(err.toJSON())).toMatchObject({ code: 'TL_ERR_JOB_NOT_FOUND', details: { jobId: 'j-42' } });
  });

  it('each factory builds its code with the table status and passes options through', () => {
    const cause = new Error('root');
    for (const [make, code] of [
      [invalidWork, 'TL_ERR_LANE_INVALID_WORK'],
      [runtimeStateError, 'TL_ERR_RUNTIME_STATE'],
      [internalError, 'TL_ERR_INTERNAL'],
    ] as const) {
      const err = make('what happened', { cause, details: { lane: 'io' } });
      expect(TasklaneError.isInstance(err)).toBe(true);
      expect(err).toMatchObject({
        code,
        message: 'what happened',
        httpStatus: errorCodes[code].status,
        retryable: errorCodes[code].retryable,
        details: { lane: 'io' },
      });
      expect(err.cause).toBe(cause);
    }
  });

  it("the family factories take only their family's codes and keep the table's status and message", () => {
    expect(authError('TL_ERR_AUTH_MISSING')).toMatchObject({ httpStatus: 401, message: errorCodes.TL_ERR_AUTH_MISSING.message });
    expect(authError('TL_ERR_AUTH_FORBIDDEN', 'this key lacks the "jobs:write" scope')).toMatchObject({
      code: 'TL_ERR_AUTH_FORBIDDEN',
      httpStatus: 403,
    });
    expect(requestRefused('TL_ERR_HEADERS_TOO_LARGE')).toMatchObject({ httpStatus: 431, retryable: false });
    expect(aiError('TL_ERR_AI_TIMEOUT', 'budget spent')).toMatchObject({ httpStatus: errorCodes.TL_ERR_AI_TIMEOUT.status });
    expect(workError('TL_ERR_LANE_UNKNOWN', 'no lane named "x"', { details: { lane: 'x' } })).toMatchObject({
      details: { lane: 'x' },
    });
    expect(jobsError('TL_ERR_SCHEDULE_EXISTS', 'a schedule named "nightly" already exists')).toMatchObject({
      code: 'TL_ERR_SCHEDULE_EXISTS',
      httpStatus: errorCodes.TL_ERR_SCHEDULE_EXISTS.status,
    });
    // @ts-expect-error a code outside the family does not compile
    authError('TL_ERR_RATE_LIMITED');
  });

  it('rateLimited carries Retry-After in details; withContext keeps code, details and status', () => {
    const err = rateLimited('too many requests for this key; retry in 250 ms', 250, { limit: 3 });
    expect(err).toMatchObject({ code: 'TL_ERR_RATE_LIMITED', httpStatus: 429, retryable: true, details: { retryAfterMs: 250, limit: 3 } });
    const told = withContext(err, 'while streaming: too many requests');
    expect(told).toMatchObject({ code: 'TL_ERR_RATE_LIMITED', httpStatus: 429, details: { retryAfterMs: 250, limit: 3 } });
    expect(told.message).toBe('while streaming: too many requests');
    expect(told.cause).toBe(err);
  });
});
