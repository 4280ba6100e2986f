// The plain live page: one card per agent with its state, vitals and a running
// event log, each fed by the agent's observe stream (PROTOCOL.md section 2).
const config = JSON.parse(document.getElementById("terrarium-config").textContent);
const base = config.baseUrl.endsWith("/") ? config.baseUrl : config.baseUrl + "/";
const grid = document.getElementById("agents");
const LOG_LINES = 200;

function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${base}${path}`;
}

function card(status) {
  const el = document.createElement("section");
  el.className = "agent";
  el.dataset.agent = status.id;
  el.innerHTML = `
    <h2><span class="name"></span><span class="state"></span></h2>
    <div class="vitals">
      <span>seq <b class="seq">0</b></span><span>pressure <b class="pressure">0</b></span>
      <span>flow <b class="flow">0</b>/s</span><span>observers <b class="observers">0</b></span>
    </div>
    <pre class="log"></pre>
    <div class="conn">connecting…</div>`;
  el.querySelector(".name").textContent = status.id;
  return el;
}

function describe(frame) {
  const d = frame.data || {};
  switch (frame.type) {
    case "state": return `state ${d.previous} → ${d.state}`;
    case "perturbation": return `perturbation ${d.perturbation_id} (priority ${d.priority}${d.by ? ", by " + d.by : ""})`;
    case "result": return `result ${JSON.stringify(d.output)}`;
    case "error": return `error ${d.error_type}: ${d.error}`;
    default: return `${frame.type} ${JSON.stringify(d)}`;
  }
}

function observe(el, agentId) {
  let lastSeq = null;
  let attempt = 0;
  const log = el.querySelector(".log");
  const conn = el.querySelector(".conn");
  const set = (cls, value) => { el.querySelector("." + cls).textContent = value; };
  const append = (text, cls) => {
    const line = document.createElement("div");
    if (cls) line.className = cls;
    line.textContent = text;
    log.appendChild(line);
    while (log.childNodes.length > LOG_LINES) log.removeChild(log.firstChild);
    log.scrollTop = log.scrollHeight;
  };
  const setState = (state) => { el.dataset.state = state; set("state", state); };
  function connect() {
    const query = lastSeq === null ? "" : `?since=${lastSeq}`;
    const ws = new WebSocket(wsUrl(`terrarium/observe/${encodeURIComponent(agentId)}${query}`));
    ws.onopen = () => { attempt = 0; conn.textContent = "live"; conn.classList.remove("down"); };
    ws.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "hello") {
        setState(frame.snapshot.state);
        set("observers", frame.snapshot.observers);
        set("seq", frame.seq);
        return;
      }
      if (frame.type === "gap") { append(`… missed events ${frame.from}-${frame.to}`, "gap"); return; }
      if (typeof frame.seq !== "number") return;
      lastSeq = frame.seq;
      set("seq", frame.seq);
      if (frame.type === "metabolism") {
        const d = frame.data;
        setState(d.state); set("pressure", d.pressure); set("flow", d.flow); set("observers", d.observers);
        return;
      }
      if (frame.type === "state") setState(frame.data.state);
      append(`#${frame.seq} ${describe(frame)}`, frame.type === "error" ? "error" : frame.type === "state" ? "state" : "");
    };
    ws.onclose = (event) => {
      if (event.code === 4004) { conn.textContent = "agent removed"; conn.classList.add("down"); return; }
      attempt += 1;
      const delay = Math.min(30000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      conn.textContent = `disconnected (${event.code}); retrying in ${(delay / 1000).toFixed(1)} s`;
      conn.classList.add("down");
      setTimeout(connect, delay);
    };
  }
  connect();
}

async function start() {
  let agents;
  try {
    const response = await fetch(`${base}terrarium/api/agents`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    agents = (await response.json()).agents;
  } catch (error) {
    grid.innerHTML = "";
    const p = document.createElement("p");
    p.className = "conn down";
    p.textContent = `Could not list agents: ${error.message}`;
    grid.appendChild(p);
    return;
  }
  grid.innerHTML = "";
  if (agents.length === 0) grid.innerHTML = '<p class="hint">No agents are registered.</p>';
  for (const status of agents) {
    const el = card(status);
    grid.appendChild(el);
    el.dataset.state = status.state;
    el.querySelector(".state").textContent = status.state;
    observe(el, status.id);
  }
}

start();
