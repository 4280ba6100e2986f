import { ServerConnection } from '@jupyterlab/services';
import { Poll } from '@lumino/polling';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { AgentsError, IAgentStatus, fetchAgents } from './api';
import { terrariumIcon } from './icon';

/** What the panel shows: `data-status` on its node. */
export type PanelStatus = 'loading' | 'live' | 'empty' | 'error';

export namespace AgentsPanel {
  export interface IOptions {
    /** Open the dashboard, on an agent or on every agent. */
    open: (agent?: string) => void;
    /** Milliseconds between two refreshes (default 1000). */
    interval?: number;
    serverSettings?: ServerConnection.ISettings;
  }
}

function formatFlow(flow: number): string {
  const rounded = flow < 10 ? flow.toFixed(1) : String(Math.round(flow));
  return `${rounded} ev/s`;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** One agent's row: a button that opens the dashboard on it. */
class AgentRow {
  readonly node: HTMLLIElement;
  private readonly _button: HTMLButtonElement;
  private readonly _state: HTMLSpanElement;
  private readonly _flow: HTMLSpanElement;
  private readonly _pending: HTMLSpanElement;

  constructor(id: string, open: (agent: string) => void) {
    this.node = element('li', 'trm-lab-agent-item');
    this._button = element('button', 'trm-lab-agent');
    this._button.type = 'button';
    this._button.dataset.agent = id;
    this._button.addEventListener('click', () => open(id));
    this._state = element('span', 'trm-lab-state');
    this._flow = element('span', 'trm-lab-flow');
    this._pending = element('span', 'trm-lab-pending');
    this._button.append(
      element('span', 'trm-lab-agent-id', id),
      this._state,
      this._flow,
      this._pending
    );
    this.node.append(this._button);
  }

  update(status: IAgentStatus): void {
    const button = this._button;
    const pending = String(status.pending);
    const flow = formatFlow(status.flow);
    // Only what changed is written: a row keeps its focus and hover.
    if (button.dataset.state !== status.state) {
      button.dataset.state = status.state;
      this._state.dataset.state = status.state;
      this._state.textContent = status.state;
    }
    if (this._flow.textContent !== flow) {
      this._flow.textContent = flow;
    }
    if (button.dataset.pending !== pending) {
      button.dataset.pending = pending;
      this._pending.dataset.pending = pending;
      this._pending.textContent = status.pending > 0 ? `${pending} pending` : '';
    }
    button.dataset.seq = String(status.seq);
    const decisions = status.pending === 1 ? 'decision' : 'decisions';
    button.title =
      `${status.id}${status.genus ? ` (${status.genus})` : ''}: ${status.state}, ` +
      `${flow}, ${status.pending} pending ${decisions}. Click to open it in the dashboard.`;
    button.setAttribute(
      'aria-label',
      `${status.id}, ${status.state}, ${flow}, ${status.pending} pending ${decisions}`
    );
  }
}

/**
 * The left sidebar's "Terrarium" panel: every agent on the server, live.
 *
 * It asks `GET {base}terrarium/api/agents` about once a second while it is
 * visible (not at all while it is collapsed or the page is hidden), and backs
 * off while the server fails.
 */
export class AgentsPanel extends Widget {
  constructor(options: AgentsPanel.IOptions) {
    super();
    this.id = 'terrarium-agents';
    this.addClass('trm-lab-panel');
    this.title.icon = terrariumIcon;
    this.title.caption = 'Terrarium';
    this._open = options.open;
    this._settings = options.serverSettings ?? ServerConnection.makeSettings();

    const header = element('header', 'trm-lab-header');
    const heading = element('h2', 'trm-lab-title', 'Terrarium');
    const openButton = element('button', 'trm-lab-open', 'Dashboard');
    openButton.type = 'button';
    openButton.title = 'Open the Terrarium dashboard in a tab';
    openButton.addEventListener('click', () => this._open());
    header.append(heading, openButton);

    this._summary = element('p', 'trm-lab-summary', 'Looking for agents…');
    this._summary.setAttribute('role', 'status');
    this._list = element('ul', 'trm-lab-agents');
    this._list.setAttribute('aria-label', 'Agents');
    this._message = element('div', 'trm-lab-message');
    this._messageTitle = element('p', 'trm-lab-message-title');
    this._messageDetail = element('p', 'trm-lab-message-detail');
    this._message.append(this._messageTitle, this._messageDetail);
    this._message.hidden = true;
    this.node.append(header, this._summary, this._list, this._message);
    this._setStatus('loading');

    const interval = options.interval ?? 1000;
    this._poll = new Poll({
      auto: true,
      factory: () => this._refresh(),
      frequency: { interval, backoff: true, max: 30 * interval },
      name: '@terrarium/jupyterlab:agents',
      standby: () => (this.isVisible ? 'when-hidden' : true)
    });
  }

  /** The poll that refreshes the list (exposed for tests and for `refresh`). */
  get poll(): Poll {
    return this._poll;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this._poll.refresh();
  }

  private async _refresh(): Promise<void> {
    let agents: IAgentStatus[];
    try {
      agents = await fetchAgents(this._settings);
    } catch (error) {
      if (!this.isDisposed) {
        this._showError(error);
      }
      throw error; // The poll backs off.
    }
    if (!this.isDisposed) {
      this._showAgents(agents);
    }
  }

  private _showAgents(agents: IAgentStatus[]): void {
    const seen = new Set<string>();
    agents.forEach((status, index) => {
      seen.add(status.id);
      let row = this._rows.get(status.id);
      if (row === undefined) {
        row = new AgentRow(status.id, agent => this._open(agent));
        this._rows.set(status.id, row);
      }
      row.update(status);
      // Keep the list in id order without moving rows that are in place.
      if (this._list.children[index] !== row.node) {
        this._list.insertBefore(row.node, this._list.children[index] ?? null);
      }
    });
    for (const [id, row] of this._rows) {
      if (!seen.has(id)) {
        row.node.remove();
        this._rows.delete(id);
      }
    }
    this._list.hidden = agents.length === 0;
    this.node.dataset.agents = String(agents.length);
    if (agents.length === 0) {
      this._summary.textContent = 'No agents';
      this._showMessage(
        'No agents on this server yet',
        'Agents appear here as soon as they run: the demo agents of ' +
          '`jupyter terrarium`, or one published from a notebook.'
      );
      this._setStatus('empty');
    } else {
      const pending = agents.reduce((sum, agent) => sum + agent.pending, 0);
      this._summary.textContent =
        `${agents.length} ${agents.length === 1 ? 'agent' : 'agents'} live` +
        (pending > 0 ? `, ${pending} pending` : '');
      this._message.hidden = true;
      this._setStatus('live');
    }
  }

  private _showError(error: unknown): void {
    const failure =
      error instanceof AgentsError
        ? error
        : new AgentsError('failed', 'Could not list the agents', String(error));
    this._list.replaceChildren();
    this._rows.clear();
    this._list.hidden = true;
    this.node.dataset.agents = '0';
    this.node.dataset.failure = failure.kind;
    // The message says it all; the summary line would only repeat it.
    this._summary.hidden = true;
    this._showMessage(failure.message, failure.detail);
    this._setStatus('error');
  }

  private _showMessage(title: string, detail: string): void {
    this._messageTitle.textContent = title;
    this._messageDetail.textContent = detail;
    this._message.hidden = false;
  }

  private _setStatus(status: PanelStatus): void {
    this.node.dataset.status = status;
    if (status !== 'error') {
      delete this.node.dataset.failure;
      this._summary.hidden = false;
    }
  }

  private readonly _open: (agent?: string) => void;
  private readonly _settings: ServerConnection.ISettings;
  private readonly _poll: Poll;
  private readonly _rows = new Map<string, AgentRow>();
  private readonly _summary: HTMLParagraphElement;
  private readonly _list: HTMLUListElement;
  private readonly _message: HTMLDivElement;
  private readonly _messageTitle: HTMLParagraphElement;
  private readonly _messageDetail: HTMLParagraphElement;
}
