/**
 * SidebarPanel: the Lumino layout of the sidebar. The header (followed kernel,
 * Client, refresh) on top, then one ReactWidget per section, stacked in a
 * scrolling Panel.
 */
import type { Message } from '@lumino/messaging';
import { Panel, PanelLayout, Widget } from '@lumino/widgets';

import type { ClientModel } from '../model';
import { SIDEBAR_ID } from '../tokens';
import { ActorsView, FuturesView, PrimitivesView, StreamView, WorkersView } from './views';
import { headerView, ModelView } from './widgets';

export interface ISidebarOptions {
  model: ClientModel;
  /** called by the header's refresh button */
  onRefresh: () => void;
  /** called with true when the sidebar is shown, false when hidden */
  onVisibilityChanged?: (visible: boolean) => void;
}

export class SidebarPanel extends Widget {
  constructor(options: ISidebarOptions) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('jp-FuturelabSidebar');
    this.title.caption = 'futurelab: the Client of the active kernel';
    this.model = options.model;
    this._onVisibility = options.onVisibilityChanged;

    const layout = (this.layout = new PanelLayout());
    layout.addWidget(
      new ModelView(this.model, headerView(options.onRefresh), 'jp-FuturelabSidebar-head')
    );

    const sections = new Panel();
    sections.addClass('jp-FuturelabSidebar-sections');
    sections.addWidget(new ModelView(this.model, FuturesView, 'jp-FuturelabFutures'));
    sections.addWidget(new ModelView(this.model, StreamView, 'jp-FuturelabStream'));
    sections.addWidget(new ModelView(this.model, WorkersView, 'jp-FuturelabWorkersSection'));
    sections.addWidget(new ModelView(this.model, PrimitivesView, 'jp-FuturelabPrimitivesSection'));
    sections.addWidget(new ModelView(this.model, ActorsView, 'jp-FuturelabActorsSection'));
    layout.addWidget(sections);
  }

  readonly model: ClientModel;

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._onVisibility?.(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._onVisibility?.(false);
  }

  private _onVisibility?: (visible: boolean) => void;
}
