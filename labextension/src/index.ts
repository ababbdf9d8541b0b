/**
 * futurelab JupyterLab extension: plugins only.
 *
 * The sidebar plugin builds the ClientModel (model.ts), the KernelFollower
 * that feeds it from the active notebook's or console's kernel (kernel.ts),
 * and the SidebarPanel showing it (sidebar/). The panel id
 * 'futurelab-sidebar' is stable: UI tests open it with
 * `[data-id="futurelab-sidebar"]`.
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IConsoleTracker } from '@jupyterlab/console';
import { INotebookTracker } from '@jupyterlab/notebook';
import { listIcon } from '@jupyterlab/ui-components';
import type { Widget } from '@lumino/widgets';

import { IKernelWidget, KernelFollower } from './kernel';
import { ClientModel } from './model';
import { SidebarPanel } from './sidebar/panel';
import { CommandIDs, PLUGIN_IDS } from './tokens';

const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_IDS.sidebar,
  description:
    'The futurelab sidebar: futures, task stream, workers and primitives of the Client in the active kernel.',
  autoStart: true,
  optional: [INotebookTracker, IConsoleTracker, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker | null,
    consoles: IConsoleTracker | null,
    labShell: ILabShell | null
  ): void => {
    const model = new ClientModel();
    const isKernelWidget = (w: Widget | null): w is IKernelWidget =>
      !!w && (!!notebooks?.has(w) || !!consoles?.has(w));
    const follower = new KernelFollower({
      model,
      isKernelWidget,
      fallback: () => notebooks?.currentWidget ?? consoles?.currentWidget ?? null
    });
    const panel = new SidebarPanel({
      model,
      onRefresh: () => follower.refresh(),
      onVisibilityChanged: visible => follower.setActive(visible)
    });
    panel.title.icon = listIcon;
    app.shell.add(panel, 'left', { rank: 900 });

    const update = () => follower.update(app.shell.currentWidget);
    labShell?.currentChanged.connect(update);
    notebooks?.currentChanged.connect(update);
    consoles?.currentChanged.connect(update);
    void app.restored.then(() => {
      update();
      follower.setActive(panel.isVisible); // restored layouts may show it at start
    });

    app.commands.addCommand(CommandIDs.refresh, {
      label: 'futurelab: Refresh the sidebar',
      execute: () => follower.refresh()
    });
    app.commands.addCommand(CommandIDs.cancel, {
      label: 'futurelab: Cancel a future',
      execute: args => model.cancel(String(args.key))
    });
    app.commands.addCommand(CommandIDs.retry, {
      label: 'futurelab: Retry a future',
      execute: args => model.retry(String(args.key))
    });
  }
};

export default [sidebarPlugin];
