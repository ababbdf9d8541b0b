/**
 * The JupyterLab side of the sidebar's views: each view of ./views.tsx (plain
 * React, shared with the web dashboard) wrapped in a ReactWidget that
 * re-renders through UseSignal on `model.changed` (never a ReactDOM.render per
 * update). Layout is the Lumino panel's job (panel.ts).
 */
import {
  ReactWidget,
  refreshIcon,
  ToolbarButtonComponent,
  UseSignal
} from '@jupyterlab/ui-components';
import * as React from 'react';

import type { ClientModel } from '../model';
import { HeaderView } from './views';

/** A ReactWidget rendering `view(model)` again on every `model.changed`. */
export class ModelView extends ReactWidget {
  constructor(
    private readonly _model: ClientModel,
    private readonly _view: (props: { model: ClientModel }) => JSX.Element | null,
    className: string
  ) {
    super();
    this.addClass('jp-FuturelabSection');
    this.addClass(className);
  }

  render(): JSX.Element {
    const View = this._view;
    return (
      <UseSignal signal={this._model.changed}>{() => <View model={this._model} />}</UseSignal>
    );
  }
}

/** The header's view, with a JupyterLab refresh button calling `onRefresh`. */
export function headerView(
  onRefresh: () => void
): (props: { model: ClientModel }) => JSX.Element {
  return function Header({ model }: { model: ClientModel }) {
    return (
      <HeaderView
        model={model}
        refreshButton={
          <ToolbarButtonComponent
            className="jp-FuturelabSidebar-refresh"
            icon={refreshIcon}
            tooltip="Refresh (reconnect to the kernel)"
            onClick={onRefresh}
          />
        }
      />
    );
  };
}
