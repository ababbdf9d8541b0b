/**
 * The dashboard page: the sidebar's views (../sidebar/views.tsx), laid out for
 * a full browser window, re-rendered on `model.changed`.
 */
import * as React from 'react';

import type { ClientModel } from '../model';
import {
  ActorsView,
  formatBytes,
  FuturesView,
  PrimitivesView,
  ProgressView,
  StreamView,
  WorkersView
} from '../sidebar/views';
import type { DashboardLink, LinkState } from './connection';

/** Re-render on every `changed` of the model (and state change of the link). */
function useSignals(model: ClientModel, link: DashboardLink): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const bump = () => setTick(t => t + 1);
    model.changed.connect(bump);
    link.stateChanged.connect(bump);
    return () => {
      model.changed.disconnect(bump);
      link.stateChanged.disconnect(bump);
    };
  }, [model, link]);
}

const LINK_LABEL: { [state in LinkState]: string } = {
  connecting: 'connecting…',
  open: 'live',
  closed: 'disconnected, reconnecting…'
};

function Header({ model, link }: { model: ClientModel; link: DashboardLink }): JSX.Element {
  const snap = model.snapshot;
  const workers = model.workers;
  const threads = workers.reduce((n, w) => n + (typeof w.nthreads === 'number' ? w.nthreads : 0), 0);
  const memory = workers.reduce((n, w) => n + (typeof w.memory === 'number' ? w.memory : 0), 0);
  const state = link.state === 'open' && !snap ? 'connecting' : link.state;
  return (
    <header className="fl-Header">
      <span className="fl-Header-title">futurelab</span>
      <span className="fl-Header-scheduler" title="scheduler">
        {snap?.client.scheduler ?? ''}
      </span>
      <span className={`fl-Header-link jp-FuturelabBadge jp-mod-${state}`} data-state={state}>
        {LINK_LABEL[state]}
      </span>
      {snap ? (
        <span className="fl-Header-stats">
          <span>{workers.length} workers</span>
          <span>{threads} threads</span>
          <span>{snap.nfutures} tasks</span>
          <span>{formatBytes(memory)} held</span>
        </span>
      ) : null}
      {model.notice ? <span className="fl-Header-notice">{model.notice}</span> : null}
      <button className="jp-FuturelabButton fl-Header-refresh" onClick={() => link.refresh()}>
        Refresh
      </button>
    </header>
  );
}

export function Dashboard({ model, link }: { model: ClientModel; link: DashboardLink }): JSX.Element {
  useSignals(model, link);
  const snap = model.snapshot;
  return (
    <>
      <Header model={model} link={link} />
      {snap ? (
        <main className="fl-Grid">
          <section className="fl-Card fl-Card-wide jp-FuturelabStream" id="fl-stream">
            <StreamView model={model} width={1100} />
          </section>
          <section className="fl-Card" id="fl-progress">
            <ProgressView model={model} />
          </section>
          <section className="fl-Card" id="fl-workers">
            <WorkersView model={model} />
          </section>
          <section className="fl-Card" id="fl-primitives">
            <PrimitivesView model={model} />
          </section>
          <section className="fl-Card" id="fl-actors">
            <ActorsView model={model} />
          </section>
          <section className="fl-Card fl-Card-wide jp-FuturelabFutures" id="fl-tasks">
            <FuturesView model={model} title="Tasks" emptyText="No tasks on the scheduler." />
          </section>
        </main>
      ) : (
        <div className="fl-Empty">Waiting for the scheduler…</div>
      )}
    </>
  );
}
