import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { IFrame, MainAreaWidget } from '@jupyterlab/apputils';
import {
  ToolbarButton,
  launchIcon,
  refreshIcon
} from '@jupyterlab/ui-components';

import { terrariumIcon } from './icon';

/** The dashboard page the server extension serves. */
export const DASHBOARD_PATH = 'terrarium/';

/**
 * The dashboard's address, under the page's base URL. With an agent, the
 * fragment `#agent=ID` asks the dashboard to focus that agent.
 */
export function dashboardUrl(agent?: string): string {
  const url = URLExt.join(PageConfig.getBaseUrl(), DASHBOARD_PATH);
  return agent ? `${url}#agent=${encodeURIComponent(agent)}` : url;
}

export type DashboardWidget = MainAreaWidget<IFrame>;

/** A main-area tab titled "Terrarium" holding the dashboard in an iframe. */
export function createDashboard(agent?: string): DashboardWidget {
  // Scripts and its own origin (its login cookie, its sockets); nothing else.
  const content = new IFrame({
    sandbox: ['allow-scripts', 'allow-same-origin'],
    referrerPolicy: 'same-origin'
  });
  content.url = dashboardUrl(agent);
  content.addClass('trm-lab-dashboard-frame');
  const widget = new MainAreaWidget({ content });
  widget.toolbar.addItem(
    'reload',
    new ToolbarButton({
      icon: refreshIcon,
      tooltip: 'Reload the dashboard',
      onClick: () => content.node.querySelector('iframe')?.contentWindow?.location.reload()
    })
  );
  widget.toolbar.addItem(
    'open',
    new ToolbarButton({
      icon: launchIcon,
      tooltip: 'Open the dashboard in a new browser tab',
      onClick: () => window.open(content.url, '_blank', 'noopener')
    })
  );
  widget.id = 'terrarium-dashboard';
  widget.addClass('trm-lab-dashboard');
  widget.title.label = 'Terrarium';
  widget.title.caption = 'Terrarium dashboard';
  widget.title.icon = terrariumIcon;
  widget.title.closable = true;
  return widget;
}

/** Point an open dashboard at an agent (or at none): a fragment change, no reload. */
export function focusAgent(widget: DashboardWidget, agent?: string): void {
  const url = dashboardUrl(agent);
  if (widget.content.url !== url) {
    widget.content.url = url;
  }
}
