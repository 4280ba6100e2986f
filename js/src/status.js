// The connection states the widgets show, in one place: every transport
// (observe socket, kernel comm, Beam) reports in these words and every view
// draws from them, so none of them needs to import another to name a state.

/** Connection states, as the widgets show them. */
export const Status = Object.freeze({
  CONNECTING: "connecting",
  WAITING: "waiting",
  LIVE: "live",
  RECONNECTING: "reconnecting",
  EXTENSION_MISSING: "extension missing",
  UNKNOWN_AGENT: "unknown agent",
  ACCESS_DENIED: "access denied",
  CLOSED: "closed",
});

/** States after which a stream stops on its own (an unknown agent is re-probed). */
export const FINAL_STATES = new Set([Status.EXTENSION_MISSING, Status.ACCESS_DENIED, Status.CLOSED]);
