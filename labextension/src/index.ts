/**
 * futurelab JupyterLab extension: plugins only.
 *
 * For now a single plugin adds a placeholder panel to the left sidebar. The
 * real sidebar (kernel follower, comm-fed ClientModel, views) replaces the
 * placeholder widget later; the panel id 'futurelab-sidebar' stays stable so
 * UI tests can open it with `[data-id="futurelab-sidebar"]`.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { listIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

/** Id of the sidebar panel; the sidebar tab carries it as `data-id`. */
const SIDEBAR_ID = 'futurelab-sidebar';

/** Placeholder text until a Client in the active kernel is followed. */
const EMPTY_TEXT = 'No futurelab Client in this kernel yet';

/** Builds the (placeholder) sidebar panel. */
function createSidebar(): Widget {
  const panel = new Widget();
  panel.id = SIDEBAR_ID;
  panel.addClass('jp-FuturelabSidebar');
  panel.title.icon = listIcon;
  panel.title.caption = 'futurelab';
  panel.title.label = 'futurelab';

  const empty = document.createElement('p');
  empty.className = 'jp-FuturelabSidebar-empty';
  empty.textContent = EMPTY_TEXT;
  panel.node.appendChild(empty);
  return panel;
}

const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'futurelab:sidebar',
  description: 'The futurelab sidebar: futures, tasks and workers of the Client in the active kernel.',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    app.shell.add(createSidebar(), 'left', { rank: 900 });
  }
};

export default [sidebarPlugin];
