import { describe, expect, it } from 'vitest';
import type { AiRequestEntry } from '../../../src/ai/request-log.js';
import { keyState, lastOutcomes, mergeOutcomes, providerStatus } from '../../../src/server/dashboard/provider-status.js';

const NOW = 1_800_000_000_000;
const keys = [
  { index: 0, disabled: false },
  { index: 1, disabled: false },
];

function entry(over: Partial<AiRequestEntry>): AiRequestEntry {
  return { seq: 1, at: NOW - 5_000, route: 'fast', stream: false, outcome: 'ok', attempts: 1, failures: [], latencyMs: 10, ...over };
}

describe('provider status', () => {
  it('is open while the retry time is ahead, and "probe on next call" once it has passed', () => {
    const last = lastOutcomes([
      entry({ outcome: 'error', attempts: 2, failures: [{ provider: 'p', model: 'm', keyIndex: 0, kind: 'connect', ms: 2 }] }),
    ]).get('p');
    const open = providerStatus({ name: 'p', keys }, [{ target: 'p/m', state: 'open', failures: 5, retryAt: NOW + 30_000 }], last, NOW);
    expect(open.state).toBe('open');
    expect(open.text).toMatch(/^breaker open on p\/m until \d\d:\d\d:\d\d UTC \(5 failures\)$/);
    const past = providerStatus({ name: 'p', keys }, [{ target: 'p/m', state: 'open', failures: 5, retryAt: NOW - 1 }], last, NOW);
    expect(past).toMatchObject({ state: 'probe', text: 'breaker open on p/m: probe on next call' });
    expect(providerStatus({ name: 'p', keys }, [{ target: 'p/m', state: 'half-open', failures: 5 }], last, NOW).state).toBe('half-open');
    // A breaker of another provider whose name starts the same is not this one's.
    expect(
      providerStatus({ name: 'p', keys }, [{ target: 'pp/m', state: 'open', failures: 5, retryAt: NOW + 1 }], undefined, NOW).state,
    ).toBe('idle');
  });

  it('never shows a key as ok beside an open breaker or an unreachable provider', () => {
    const served = lastOutcomes([entry({ provider: 'p', model: 'm', keyIndex: 0 })]).get('p');
    const fine = providerStatus({ name: 'p', keys }, [], served, NOW);
    expect(fine.state).toBe('ok');
    expect(keyState(keys[0]!, fine, served, NOW)).toBe('ok');
    expect(keyState(keys[1]!, fine, served, NOW)).toBe('idle');
    for (const state of ['open', 'probe', 'half-open', 'unreachable', 'failing'] as const) {
      expect(keyState(keys[0]!, { state, text: '' }, served, NOW)).toBe('blocked');
    }
    expect(keyState({ index: 0, disabled: true }, fine, served, NOW)).toBe('disabled');
    expect(keyState({ index: 0, disabled: false, coolingUntil: NOW + 1 }, fine, served, NOW)).toBe('cooling');
    expect(keyState({ index: 0, disabled: false, coolingUntil: NOW - 1 }, fine, served, NOW)).toBe('ok');
    // A (key, model) pair cooling or refused is not a green key either; one that ended is.
    expect(keyState({ index: 0, disabled: false, models: [{ coolingUntil: NOW + 1 }] }, fine, served, NOW)).toBe('cooling');
    expect(keyState({ index: 0, disabled: false, models: [{ refusedUntil: NOW + 1 }] }, fine, served, NOW)).toBe('cooling');
    expect(keyState({ index: 0, disabled: false, models: [{ coolingUntil: NOW - 1 }] }, fine, served, NOW)).toBe('ok');
  });

  it('calls a provider unreachable when its latest attempt could not connect, and ok again once one answers', () => {
    const refused = entry({
      at: NOW - 2_000,
      outcome: 'error',
      failures: [{ provider: 'p', model: 'm', keyIndex: 0, kind: 'connect', ms: 1 }],
    });
    const s = providerStatus({ name: 'p', keys }, [], lastOutcomes([refused]).get('p'), NOW);
    expect(s.state).toBe('unreachable');
    expect(s.text).toMatch(/^unreachable: last call could not connect at /);
    expect(s.lastError).toMatchObject({ kind: 'connect' });
    const answered = entry({ at: NOW - 1_000, provider: 'p', model: 'm', keyIndex: 1 });
    // Newest first, as the log lists them.
    expect(providerStatus({ name: 'p', keys }, [], lastOutcomes([answered, refused]).get('p'), NOW).state).toBe('ok');
    const server = entry({
      at: NOW - 500,
      outcome: 'error',
      failures: [{ provider: 'p', model: 'm', keyIndex: 0, kind: 'server', status: 503, ms: 3 }],
    });
    expect(providerStatus({ name: 'p', keys }, [], lastOutcomes([server, answered]).get('p'), NOW)).toMatchObject({
      state: 'failing',
      text: expect.stringContaining('answered 503'),
    });
    // A caller's bad request or a rate limit says nothing about reachability.
    const bad = entry({
      at: NOW - 100,
      outcome: 'error',
      failures: [{ provider: 'p', model: 'm', keyIndex: 0, kind: 'bad_request', status: 400, ms: 3 }],
    });
    expect(providerStatus({ name: 'p', keys }, [], lastOutcomes([bad, answered]).get('p'), NOW).state).toBe('ok');
    // A cache hit is not a call.
    expect(
      providerStatus({ name: 'p', keys }, [], lastOutcomes([entry({ provider: 'p', cache: 'hit', attempts: 0 })]).get('p'), NOW).state,
    ).toBe('idle');
  });

  it('merges the request log with what the metrics counted, the newer fact winning', () => {
    const log = lastOutcomes([entry({ at: NOW - 9_000, provider: 'p', model: 'm', keyIndex: 0 })]);
    const counted = new Map([['p', { okAt: 0, okKeys: new Set<number>(), fail: { at: NOW - 2_000, kind: 'connect' } }]]);
    const merged = mergeOutcomes(log, counted);
    expect(providerStatus({ name: 'p', keys }, [], merged.get('p'), NOW).state).toBe('unreachable');
    expect(merged.get('p')!.okKeys).toEqual(new Set([0]));
    const healed = mergeOutcomes(
      log,
      new Map([['p', { okAt: NOW - 1_000, okKeys: new Set([1]), fail: { at: NOW - 2_000, kind: 'connect' } }]]),
    );
    expect(providerStatus({ name: 'p', keys }, [], healed.get('p'), NOW).state).toBe('ok');
    expect(healed.get('p')!.okKeys).toEqual(new Set([0, 1]));
    // A provider only the metrics know about.
    expect(mergeOutcomes(new Map(), counted).get('p')!.fail!.kind).toBe('connect');
  });

  it('is down when every key is disabled', () => {
    expect(providerStatus({ name: 'p', keys: [{ index: 0, disabled: true }] }, [], undefined, NOW).state).toBe('down');
  });
});
