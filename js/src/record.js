// What a view knows about one agent, folded from STATUS objects and frames.
// Pure: no DOM, no sockets.

export const LOG_SIZE = 200;
/** Seconds of metabolism samples an agent's record keeps (for the chart): five minutes. */
export const SAMPLE_WINDOW_S = 300;
/** At most this many samples, whatever the metrics interval (20 minutes at the default 1 s). */
export const SAMPLE_SIZE = 1200;

export function createRecord(id) {
  return {
    id,
    genus: null,
    state: "dormant",
    pressure: 0,
    flow: 0,
    temperature: 0,
    turbulence: 0,
    queueDepth: 0,
    observers: 0,
    seq: 0,
    events: 0,
    errors: 0,
    lastEventAt: 0,
    lastErrorAt: 0,
    samples: [],
    log: [],
    logCount: 0,
    pending: new Map(),
    connection: { status: "connecting", detail: "" },
  };
}

const num = (value, fallback = 0) => (typeof value === "number" && Number.isFinite(value) ? value : fallback);

/** Fold a protocol STATUS object (or a hello snapshot) into the record. */
export function applyStatus(record, status) {
  if (!status || typeof status !== "object") return record;
  if (typeof status.genus === "string" || status.genus === null) record.genus = status.genus ?? record.genus;
  if (typeof status.state === "string") record.state = status.state;
  record.pressure = num(status.pressure, record.pressure);
  record.flow = num(status.flow, record.flow);
  record.temperature = num(status.temperature, record.temperature);
  record.turbulence = num(status.turbulence, record.turbulence);
  record.queueDepth = num(status.queue_depth, record.queueDepth);
  record.observers = num(status.observers, record.observers);
  if (Number.isInteger(status.seq)) record.seq = Math.max(record.seq, status.seq);
  if (Array.isArray(status.pending)) {
    record.pending = new Map();
    for (const token of status.pending) if (token && token.id) record.pending.set(token.id, token);
  }
  return record;
}

/** healthy < 50, degraded 50-80, critical > 80 */
export function pressureLevel(pressure) {
  const p = num(pressure);
  if (p > 80) return "critical";
  if (p >= 50) return "degraded";
  return "healthy";
}

function short(value, limit = 160) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) text = String(value);
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

function shortId(id) {
  const text = String(id ?? "");
  return text.length > 10 ? `${text.slice(0, 8)}…` : text;
}

/** One line of the event log for a frame; null for frames that are not logged. */
export function describeFrame(frame) {
  const d = frame.data && typeof frame.data === "object" ? frame.data : {};
  switch (frame.type) {
    case "state":
      if (d.state === "unavailable") return `unavailable: the server that ran it is gone (was ${d.previous ?? "?"})`;
      if (d.state === "available") return "available again: another server runs it";
      return `state ${d.previous ?? "?"} → ${d.state ?? "?"}`;
    case "perturbation":
      return `perturbation ${d.perturbation_id ?? ""} (priority ${d.priority ?? "?"}${d.by ? `, by ${d.by}` : ""})`;
    case "result":
      return `result ${short(d.output)}`;
    case "error":
      return `error ${d.error_type ?? "Error"}: ${d.error ?? ""}`;
    case "semaphore_ejected":
      return `semaphore ${shortId(d.token?.id)} asks: ${d.token?.prompt ?? ""}`;
    case "semaphore_resolved":
      return `semaphore ${shortId(d.token_id)} resolved → ${short(d.output)}`;
    case "semaphore_cancelled":
      return `semaphore ${shortId(d.token_id)} cancelled`;
    case "semaphore_voided":
      return `semaphore ${shortId(d.token_id)} voided (${d.reason ?? "?"})`;
    case "gap":
      return `missed events ${frame.from}–${frame.to}`;
    case "metabolism":
      return null;
    default:
      return `${frame.type} ${short(d)}`;
  }
}

function pushLog(record, frame, text) {
  record.logCount += 1;
  // The frame itself is kept for the log's expanded view (its full JSON); a separator has none.
  const kept = frame.type === "reset" ? null : frame;
  record.log.push({ n: record.logCount, seq: frame.seq ?? null, type: frame.type, text, frame: kept });
  if (record.log.length > LOG_SIZE) record.log.splice(0, record.log.length - LOG_SIZE);
}

/**
 * Keep a metabolism sample: the last SAMPLE_WINDOW_S seconds of them (by the
 * server's clock, `ts`), at most SAMPLE_SIZE, oldest first. A sample older
 * than the newest one kept (a replayed history after a reconnect) is put in
 * its place, never appended out of order.
 */
export function addSample(record, sample) {
  const samples = record.samples;
  const last = samples[samples.length - 1];
  if (!last || sample.t >= last.t) samples.push(sample);
  else {
    const at = samples.findIndex((kept) => kept.t >= sample.t);
    if (samples[at].t === sample.t) samples[at] = sample;
    else samples.splice(at, 0, sample);
  }
  const newest = samples[samples.length - 1].t;
  let drop = 0;
  while (drop < samples.length && samples[drop].t < newest - SAMPLE_WINDOW_S) drop += 1;
  drop = Math.max(drop, samples.length - SAMPLE_SIZE);
  if (drop > 0) samples.splice(0, drop);
  return record;
}

/**
 * Fold one frame into the record. Returns what happened, for the views:
 * `{event, error, pulse}` (an event counted, an error to flash, activity to show).
 */
export function applyFrame(record, frame, now = Date.now()) {
  const effect = { event: false, error: false, pulse: false };
  if (!frame || typeof frame !== "object") return effect;
  const d = frame.data && typeof frame.data === "object" ? frame.data : {};
  if (frame.type === "hello") {
    if (frame.snapshot) applyStatus(record, frame.snapshot);
    if (Number.isInteger(frame.seq)) record.seq = frame.reset ? frame.seq : Math.max(record.seq, frame.seq);
    // A separator in the log: seqs below it are the new stream's, from its kept history.
    if (frame.reset) pushLog(record, { type: "reset" }, "the agent's stream started over: new numbering below");
    return effect;
  }
  if (frame.type === "gap") {
    pushLog(record, frame, describeFrame(frame));
    return effect;
  }
  if (frame.type === "pong") return effect;
  if (Number.isInteger(frame.seq)) record.seq = Math.max(record.seq, frame.seq);
  record.events += 1;
  effect.event = true;
  switch (frame.type) {
    case "metabolism":
      applyStatus(record, d);
      addSample(record, {
        t: num(frame.ts, now / 1000),
        pressure: num(d.pressure),
        flow: num(d.flow),
        temperature: num(d.temperature),
        turbulence: num(d.turbulence),
        queueDepth: num(d.queue_depth),
      });
      break;
    case "state":
      // "available" says an owner is back; its agent's own next state event says which.
      if (typeof d.state === "string" && d.state !== "available") record.state = d.state;
      break;
    case "error":
      record.errors += 1;
      record.lastErrorAt = now;
      effect.error = true;
      break;
    case "semaphore_ejected":
      if (d.token && d.token.id) record.pending.set(d.token.id, d.token);
      break;
    case "semaphore_resolved":
    case "semaphore_cancelled":
    case "semaphore_voided":
      record.pending.delete(d.token_id);
      break;
    default:
      break;
  }
  if (frame.type !== "metabolism") {
    record.lastEventAt = now;
    effect.pulse = true;
  }
  const text = describeFrame(frame);
  if (text !== null) pushLog(record, frame, text);
  return effect;
}

/**
 * How "hot" the agent looks, 0..1: its temperature, its flow (events/s,
 * saturating) and a short afterglow of its latest event.
 */
export function heatOf(record, now = Date.now()) {
  if (record.state === "stopped" || record.state === "collapsed" || record.state === "unavailable") return 0;
  const flowHeat = 1 - Math.exp(-num(record.flow) / 3);
  const since = record.lastEventAt ? (now - record.lastEventAt) / 1000 : Infinity;
  const afterglow = since < 3 ? 0.35 * (1 - since / 3) : 0;
  const pressureHeat = (num(record.pressure) / 100) * 0.8;
  return Math.min(1, Math.max(num(record.temperature), flowHeat, afterglow, pressureHeat));
}

export const PALETTE = Object.freeze({
  idle: "#4a4a5c",
  waking: "#c97b84",
  active: "#e6a352",
  intense: "#f5d08a",
});

const STOP_AT = [0, 0.33, 0.66, 1];

/** Heat stops `[[t, [r, g, b]], …]` for four colours, idle to intense. */
export function heatStops(colors) {
  return STOP_AT.map((t, i) => [t, colors[i].slice(0, 3)]);
}

/** The dark look's stops (the fallback outside JupyterLab). */
export const STOPS = heatStops([
  [0x4a, 0x4a, 0x5c],
  [0xc9, 0x7b, 0x84],
  [0xe6, 0xa3, 0x52],
  [0xf5, 0xd0, 0x8a],
]);

/** The DensityField colour for a heat in 0..1, as [r, g, b], along `stops` (the theme's). */
export function heatRgb(heat, stops = STOPS) {
  const h = Math.min(1, Math.max(0, num(heat)));
  for (let i = 1; i < stops.length; i += 1) {
    const [t1, c1] = stops[i];
    const [t0, c0] = stops[i - 1];
    if (h <= t1) {
      const k = (h - t0) / (t1 - t0);
      return [0, 1, 2].map((j) => Math.round(c0[j] + (c1[j] - c0[j]) * k));
    }
  }
  return stops[stops.length - 1][1].slice();
}

/** The name of the band a heat falls in: idle, waking, active or intense. */
export function heatBand(heat) {
  const h = num(heat);
  if (h < 0.25) return "idle";
  if (h < 0.5) return "waking";
  if (h < 0.8) return "active";
  return "intense";
}
