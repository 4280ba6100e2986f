/**
 * Terrarium in JupyterLab.
 *
 * - The command "Terrarium dashboard" (palette, launcher) opens the
 *   `{base}terrarium/` dashboard in a main-area tab titled "Terrarium".
 * - The left sidebar's "Terrarium" panel lists the agents live; clicking one
 *   opens the dashboard on it (`#agent=ID`).
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';

import { DashboardWidget, createDashboard, focusAgent } from './dashboard';
import { terrariumIcon } from './icon';
import { AgentsPanel } from './panel';

export { AgentsPanel } from './panel';
export { dashboardUrl } from './dashboard';
export { fetchAgents } from './api';

export namespace CommandIDs {
  export const openDashboard = 'terrarium:open-dashboard';
}

const PLUGIN_ID = '@terrarium/jupyterlab:plugin';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'The Terrarium dashboard in a tab, and the agents live in the left sidebar.',
  autoStart: true,
  optional: [ICommandPalette, ILauncher, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null
  ): void => {
    const { commands, shell } = app;
    const tracker = new WidgetTracker<DashboardWidget>({
      namespace: 'terrarium-dashboard'
    });

    commands.addCommand(CommandIDs.openDashboard, {
      label: 'Terrarium dashboard',
      caption: 'Open the Terrarium dashboard in a tab',
      icon: args => (args.isPalette ? undefined : terrariumIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            agent: {
              type: 'string',
              description: 'An agent id: the dashboard opens on that agent'
            }
          }
        }
      },
      execute: args => {
        const agent =
          typeof args.agent === 'string' && args.agent !== ''
            ? args.agent
            : undefined;
        // One dashboard: reuse the open tab (a fragment change, no reload).
        let widget = tracker.currentWidget;
        if (widget && !widget.isDisposed) {
          if (agent !== undefined) {
            focusAgent(widget, agent);
          }
        } else {
          widget = createDashboard(agent);
          void tracker.add(widget);
          shell.add(widget, 'main');
        }
        shell.activateById(widget.id);
        return widget;
      }
    });

    palette?.addItem({ command: CommandIDs.openDashboard, category: 'Terrarium' });
    launcher?.add({ command: CommandIDs.openDashboard, category: 'Other', rank: 1 });

    const panel = new AgentsPanel({
      serverSettings: app.serviceManager.serverSettings,
      open: agent =>
        void commands.execute(CommandIDs.openDashboard, agent ? { agent } : {})
    });
    shell.add(panel, 'left', { rank: 650 });

    if (restorer) {
      restorer.add(panel, panel.id);
      void restorer.restore(tracker, {
        command: CommandIDs.openDashboard,
        args: () => ({}),
        name: () => 'dashboard'
      });
    }
  }
};

export default plugin;
