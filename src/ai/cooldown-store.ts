/**
 * Where key cooldowns live. The in-memory store serves one process; a shared store (Redis) lets a
 * fleet honour one provider's Retry-After together. `get` is synchronous because it runs on every
 * request: a shared store keeps a local mirror and updates it from its backend.
 */
export interface CooldownStore {
  /** Epoch ms until which the key cools; 0 (or a past time) when it does not. */
  get(provider: string, keyIndex: number): number;
  /** Cools the key until `untilMs` (epoch ms). Never shortens a longer cooldown already set. */
  extend(provider: string, keyIndex: number, untilMs: number): void;
}

/** The default store: a map in this process. */
export class MemoryCooldownStore implements CooldownStore {
  #until = new Map<string, number>();

  get(provider: string, keyIndex: number): number {
    return this.#until.get(`${provider}\u0000${keyIndex}`) ?? 0;
  }

  extend(provider: string, keyIndex: number, untilMs: number): void {
    const k = `${provider}\u0000${keyIndex}`;
    const old = this.#until.get(k) ?? 0;
    if (untilMs > old) this.#until.set(k, untilMs);
  }
}
