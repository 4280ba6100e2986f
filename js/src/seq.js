// One agent's seqs across frames and reconnects (PROTOCOL.md section 2):
// duplicates dropped, silent jumps reported as gaps, the resume point and the
// epoch it belongs to. Shared by the observe socket and the kernel comm, which
// must agree on what a duplicate or a restarted stream is. Pure.

/**
 * Follows one agent's seqs across frames and reconnects (PROTOCOL.md section 2).
 *
 * `since` is the resume point for `?since=` (null before the first event, so
 * the first connect gets all kept history), and `epoch` the numbering it
 * belongs to. Events at or below it are duplicates; a jump past it is a gap,
 * reported even without a `gap` frame.
 */
export class SeqTracker {
  constructor() {
    this.last = null;
    this.epoch = null;
    this.received = 0;
    this.duplicates = 0;
    this.missed = 0;
  }

  get since() {
    return this.last;
  }

  /**
   * A `hello` frame. The server says `reset: true` when the seq we resumed from
   * belongs to another epoch (the agent's stream started over: a restarted
   * server, a new agent under the same id); then the kept history of the new
   * numbering follows from its start, and we follow it. A server without
   * epochs is judged by its seq: newest below what we have seen.
   */
  hello(frame) {
    const seq = frame && Number.isInteger(frame.seq) ? frame.seq : null;
    const epoch = frame && typeof frame.epoch === "string" ? frame.epoch : null;
    const restarted = frame.reset === true || (epoch !== null && this.epoch !== null && epoch !== this.epoch);
    const below = epoch === null && seq !== null && this.last !== null && seq < this.last;
    if (epoch !== null) this.epoch = epoch;
    // The new numbering's history follows from its start; without epochs, only what is newer.
    if (restarted) this.last = null;
    else if (below) this.last = seq;
    return { reset: restarted || below };
  }

  /** A `gap` frame: those seqs will not come; move the resume point past them. */
  gap(frame) {
    const from = Number(frame && frame.from);
    const to = Number(frame && frame.to);
    if (!Number.isInteger(from) || !Number.isInteger(to) || to < from) return null;
    const start = this.last === null ? from : Math.max(from, this.last + 1);
    if (to >= start) this.missed += to - start + 1;
    if (this.last === null || to > this.last) this.last = to;
    return { from, to };
  }

  /**
   * An event frame. Returns `{fresh: false}` for a duplicate, else
   * `{fresh: true, gap: {from, to} | null}` where `gap` is a silent jump.
   */
  accept(frame) {
    const seq = frame ? frame.seq : undefined;
    if (!Number.isInteger(seq)) return { fresh: true, gap: null };
    if (this.last !== null && seq <= this.last) {
      this.duplicates += 1;
      return { fresh: false, gap: null };
    }
    let gap = null;
    if (this.last !== null && seq > this.last + 1) {
      gap = { from: this.last + 1, to: seq - 1 };
      this.missed += seq - 1 - this.last;
    }
    this.last = seq;
    this.received += 1;
    return { fresh: true, gap };
  }
}
