// When to try again: the reconnect delay shared by every socket, so that many
// widgets reconnecting after a server restart spread out instead of arriving
// at once. Pure: the random source is an option.

export const BACKOFF = Object.freeze({ initial: 500, max: 30000, factor: 2, jitter: 0.5 });

/**
 * Delay in ms before reconnect attempt `attempt` (0 = first retry): exponential
 * up to `max`, with the top `jitter` fraction randomised so that many widgets
 * reconnecting after a server restart do not arrive at once. The result lies
 * in [cap * (1 - jitter), cap] with cap = min(max, initial * factor ** attempt).
 */
export function backoffDelay(attempt, options = {}) {
  const { initial, max, factor, jitter } = { ...BACKOFF, ...options };
  const random = options.random ?? Math.random;
  const step = Math.max(0, Math.floor(Number(attempt) || 0));
  const cap = Math.min(max, initial * factor ** Math.min(step, 64));
  const spread = Math.min(1, Math.max(0, jitter));
  const r = Math.min(1, Math.max(0, random()));
  return cap * (1 - spread) + cap * spread * r;
}
