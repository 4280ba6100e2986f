import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The route that lists every agent (docs/PROTOCOL.md, section 4). */
export const AGENTS_PATH = 'terrarium/api/agents';

/** The fields of a STATUS object this extension shows. */
export interface IAgentStatus {
  id: string;
  genus: string | null;
  state: string;
  /** Events per second over the server's sliding window. */
  flow: number;
  /** Purgatory decisions waiting for a human. */
  pending: number;
  /** The newest event's sequence number. */
  seq: number;
}

/** Why the agents could not be listed. */
export type FailureKind =
  /** The route is not there (404): the Terrarium server extension is not loaded. */
  | 'unreachable'
  /** The Jupyter server did not answer at all. */
  | 'offline'
  /** 401 or 403: this login may not read the agents. */
  | 'forbidden'
  /** Any other error status, or an answer that is not the documented shape. */
  | 'failed';

export class AgentsError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly detail: string
  ) {
    super(message);
    this.name = 'AgentsError';
  }
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** One STATUS object as this extension shows it, or null if it is not one. */
export function toStatus(raw: unknown): IAgentStatus | null {
  if (raw === null || typeof raw !== 'object') {
    return null;
  }
  const status = raw as Record<string, unknown>;
  if (typeof status.id !== 'string' || status.id === '') {
    return null;
  }
  return {
    id: status.id,
    genus: typeof status.genus === 'string' ? status.genus : null,
    state: typeof status.state === 'string' ? status.state : 'unknown',
    flow: count(status.flow),
    pending: count(status.pending_semaphores),
    seq: count(status.seq)
  };
}

/**
 * `GET {base}terrarium/api/agents` with the page's own login:
 * `ServerConnection` adds the token or the XSRF header as the page needs.
 */
export async function fetchAgents(
  settings: ServerConnection.ISettings
): Promise<IAgentStatus[]> {
  const url = URLExt.join(settings.baseUrl, AGENTS_PATH);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { method: 'GET', cache: 'no-store' },
      settings
    );
  } catch (error) {
    throw new AgentsError(
      'offline',
      'Jupyter server not reachable',
      `GET ${url} failed: ${String(error)}`
    );
  }
  if (response.status === 404) {
    throw new AgentsError(
      'unreachable',
      'Terrarium server extension not reachable',
      `GET ${url} answered 404. Is the server extension enabled? ` +
        '(jupyter server extension list)'
    );
  }
  if (response.status === 401 || response.status === 403) {
    throw new AgentsError(
      'forbidden',
      'Not allowed to list the agents',
      `GET ${url} answered ${response.status}`
    );
  }
  if (!response.ok) {
    throw new AgentsError(
      'failed',
      'Could not list the agents',
      `GET ${url} answered ${response.status} ${response.statusText}`
    );
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const agents = (body as { agents?: unknown } | null)?.agents;
  if (!Array.isArray(agents)) {
    throw new AgentsError(
      'failed',
      'Could not list the agents',
      `GET ${url} did not answer {"agents": [...]}`
    );
  }
  return agents
    .map(toStatus)
    .filter((status): status is IAgentStatus => status !== null)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
