// Which agents a hub knows and what each one's stream has said: one record
// per agent (record.js), folded from frames and STATUS objects whichever
// transport brought them. Kept apart from the hub so that the state the views
// draw from does not depend on how it arrived. It says "agents" through
// `emit` when the set of agents changes; every other event is the hub's.

import { applyFrame, applyStatus, createRecord } from "./record.js";

export class AgentStore {
  /**
   * @param agentId the one agent this store keeps, or null for every agent
   * @param emit `emit(name, ...args)`, called with "agents" when one comes or goes
   */
  constructor({ agentId = null, emit = () => {} } = {}) {
    this.agentId = agentId;
    this.emit = emit;
    this.records = new Map();
  }

  /** Agent ids in display order. */
  ids() {
    return [...this.records.keys()].sort((a, b) => a.localeCompare(b));
  }

  /** Agent ids in the order they came. */
  known() {
    return [...this.records.keys()];
  }

  has(id) {
    return this.records.has(id);
  }

  record(id) {
    return this.records.get(id) ?? null;
  }

  /** Pending semaphore tokens, oldest first, of one agent or of all. */
  pending(agentId = null) {
    const tokens = [];
    for (const [id, record] of this.records) {
      if (agentId !== null && id !== agentId) continue;
      for (const token of record.pending.values()) tokens.push({ agentId: id, token });
    }
    return tokens.sort((a, b) => String(a.token.created_at).localeCompare(String(b.token.created_at)));
  }

  /** The record of `id`, made (and announced) when it is new. */
  ensure(id) {
    let record = this.records.get(id);
    if (!record) {
      record = createRecord(id);
      this.records.set(id, record);
      this.emit("agents");
    }
    return record;
  }

  /** Forget an agent; true when it was known. */
  remove(id) {
    if (!this.records.delete(id)) return false;
    this.emit("agents");
    return true;
  }

  /**
   * Fold a frame into its agent's record (`frame.agent_id`, else `fallbackId`).
   * Returns `{id, effect}`, or null for a frame of no agent or of another agent.
   */
  fold(fallbackId, frame) {
    const id = frame.agent_id ?? fallbackId;
    if (id === null || id === undefined) return null;
    if (this.agentId !== null && id !== this.agentId) return null;
    const record = this.ensure(id);
    return { id, effect: applyFrame(record, frame) };
  }

  /**
   * A STATUS object from a listing: a new agent takes all of it, a known one
   * only a genus it lacked (its stream knows the rest better). Returns the record.
   */
  learn(status) {
    const known = this.records.has(status.id);
    const record = this.ensure(status.id);
    if (!known) applyStatus(record, status);
    else if (record.genus === null && status.genus) record.genus = status.genus;
    return record;
  }

  /** Replace an agent's pending tokens; false when the agent is not known. */
  setPending(id, pending) {
    const record = this.records.get(id);
    if (!record) return false;
    applyStatus(record, { pending });
    return true;
  }

  /** Set how one agent's stream is connected; false when the agent is not known. */
  setConnection(id, status, detail) {
    const record = this.records.get(id);
    if (!record) return false;
    record.connection = { status, detail };
    return true;
  }

  /** A token that is no longer pending leaves its agent's record; true when it was there. */
  settle(agentId, tokenId) {
    const record = this.records.get(agentId);
    return Boolean(record && record.pending.delete(tokenId));
  }
}
