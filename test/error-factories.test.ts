import { describe, expect, it } from 'vitest';
import {
  NotFoundError,
  TasklaneError,
  errorCodes,
  errorFromJSON,
  internalError,
  invalidWork,
  jobNotFound,
  runtimeStateError,
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
});
