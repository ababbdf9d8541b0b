/**
 * React views of futurelab's state: plain function components of the
 * ClientModel, free of JupyterLab, so the same views render in the lab sidebar
 * (wrapped in ReactWidgets by ./widgets.tsx, laid out by panel.ts) and in the
 * scheduler's web dashboard (../dashboard/). Actions go through the model
 * (`model.cancel`, `model.retry`, `model.select`), which sends them to
 * wherever its state comes from (the kernel's comm, or the dashboard's
 * WebSocket).
 */
import * as React from 'react';

import { ALL, ClientModel, IPrimitiveItem, IStreamData, STATUS_ORDER } from '../model';
import type { IFutureInfo, IProgress } from '../tokens';

// ------------------------------------------------------------------ formatting

/** "12 ms", "1.25 s", "3 min 4 s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) {
    return '';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  }
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - 60 * m)} s`;
}

/** "0 B", "1.5 kB", "12.0 MB". */
export function formatBytes(n: unknown): string {
  if (typeof n !== 'number' || !isFinite(n)) {
    return '';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** "slow-4dfdae67…" for a long key. */
export function shortKey(key: string): string {
  const m = /^(.*)-([0-9a-f]{8,})$/.exec(key);
  if (m) {
    return `${m[1]}-${m[2].slice(0, 6)}`;
  }
  return key.length > 24 ? `${key.slice(0, 23)}…` : key;
}

/** "Client-1a2b3c" for "Client-1a2b3c4d5e…". */
export function shortClient(id: unknown): string {
  if (typeof id !== 'string') {
    return id === null || id === undefined ? '' : String(id);
  }
  const m = /^(Client-)?([0-9a-f]{6})[0-9a-f]*$/.exec(id);
  return m ? `${m[1] ?? ''}${m[2]}` : id;
}

/** "inproc://123/1" → "…/1"; tcp addresses keep host:port. */
function shortAddress(addr: string): string {
  return addr.replace(/^inproc:\/\/\d+/, 'inproc').replace(/^tcp:\/\//, '');
}

function summary(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (Array.isArray(value)) {
    return value.map(v => summary(v)).join(', ');
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** Tableau 10: distinct colours for the first prefixes seen. */
const PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2',
  '#edc948', '#ff9da7', '#9c755f', '#bab0ac', '#e15759'
];
const prefixColors = new Map<string, string>();

/** A colour per task prefix, the same in every view for the page's lifetime. */
export function prefixColor(prefix: string): string {
  let color = prefixColors.get(prefix);
  if (!color) {
    const n = prefixColors.size;
    color = n < PALETTE.length ? PALETTE[n] : `hsl(${(n * 137.5) % 360}, 55%, 55%)`;
    prefixColors.set(prefix, color);
  }
  return color;
}

// ------------------------------------------------------------------ header / empty state

/** The sidebar's header; `refreshButton` is the host's own button (a JupyterLab toolbar button). */
export function HeaderView({
  model,
  refreshButton
}: {
  model: ClientModel;
  refreshButton?: React.ReactNode;
}): JSX.Element {
  const snap = model.snapshot;
  let body: JSX.Element;
  if (model.connection === 'no-kernel') {
    body = (
      <div className="jp-FuturelabSidebar-empty">
        Open a notebook or console: the sidebar shows the futurelab Client of its kernel.
      </div>
    );
  } else if (model.connection === 'connecting') {
    body = <div className="jp-FuturelabSidebar-empty">Connecting to the kernel…</div>;
  } else if (!snap) {
    body = (
      <div className="jp-FuturelabSidebar-empty">
        No futurelab Client in this kernel yet. Start one in the notebook:
        <code>from futurelab import Client{'\n'}client = Client()</code>
      </div>
    );
  } else {
    body = (
      <div className="jp-FuturelabSidebar-client">
        <span className="jp-FuturelabSidebar-clientId" title={snap.client.id}>
          {shortClient(snap.client.id)}
        </span>{' '}
        <span className={`jp-FuturelabBadge jp-mod-${snap.client.status}`}>
          {snap.client.status}
        </span>
        <div className="jp-FuturelabSidebar-scheduler" title={snap.client.scheduler ?? ''}>
          scheduler {snap.client.scheduler}
        </div>
      </div>
    );
  }
  return (
    <div className="jp-FuturelabSidebar-header" data-connection={model.connection}>
      <div className="jp-FuturelabSidebar-title">
        <span>futurelab</span>
        <span className="jp-FuturelabSidebar-source" title="the kernel followed">
          {model.source}
        </span>
        {refreshButton ?? null}
      </div>
      {body}
      {model.notice ? <div className="jp-FuturelabSidebar-notice">{model.notice}</div> : null}
    </div>
  );
}

// ------------------------------------------------------------------ futures

function FutureActions({ model, future }: { model: ClientModel; future: IFutureInfo }): JSX.Element {
  const stop = (e: React.MouseEvent) => e.stopPropagation();
  if (future.status === 'pending' || future.status === 'processing') {
    return (
      <button
        className="jp-FuturelabButton jp-mod-cancel"
        title="Cancel this future"
        onClick={e => {
          stop(e);
          void model.cancel(future.key);
        }}
      >
        Cancel
      </button>
    );
  }
  if (future.status === 'error') {
    return (
      <button
        className="jp-FuturelabButton jp-mod-retry"
        title="Run this future again"
        onClick={e => {
          stop(e);
          void model.retry(future.key);
        }}
      >
        Retry
      </button>
    );
  }
  return <></>;
}

function DetailRow({ model }: { model: ClientModel }): JSX.Element | null {
  const detail = model.detail;
  if (!detail) {
    return null;
  }
  let content: JSX.Element;
  if (detail.loading) {
    content = <span>Loading…</span>;
  } else if (detail.traceback || detail.error) {
    content = (
      <>
        <div className="jp-FuturelabDetail-error">{detail.error}</div>
        {detail.traceback ? (
          <pre className="jp-FuturelabDetail-traceback">{detail.traceback}</pre>
        ) : null}
      </>
    );
  } else {
    content = <span>{`No exception (status: ${detail.status ?? 'unknown'}).`}</span>;
  }
  return (
    <tr className="jp-FuturelabDetail">
      <td colSpan={6}>
        <div className="jp-FuturelabDetail-key">{detail.key}</div>
        {content}
      </td>
    </tr>
  );
}

const ROWS_PER_GROUP = 100;

export function FuturesView({
  model,
  title = 'Futures',
  emptyText = 'No futures held by this Client.'
}: {
  model: ClientModel;
  /** the section's title ("Tasks" on the dashboard) */
  title?: string;
  emptyText?: string;
}): JSX.Element | null {
  const [collapsed, setCollapsed] = React.useState<{ [prefix: string]: boolean }>({});
  const snap = model.snapshot;
  if (!snap) {
    return null;
  }
  const counts = model.statusCounts;
  const statuses = STATUS_ORDER.filter(s => counts[s]).concat(
    Object.keys(counts).filter(s => !STATUS_ORDER.includes(s))
  );
  const filter = model.statusFilter;
  return (
    <div>
      <h3 className="jp-FuturelabSection-title">
        {title} <span className="jp-FuturelabCount">{snap.nfutures}</span>
      </h3>
      <div className="jp-FuturelabFilter" role="toolbar" aria-label="Filter futures by status">
        {[ALL, ...statuses].map(s => (
          <button
            key={s}
            data-status={s}
            className={`jp-FuturelabFilter-item${s === filter ? ' jp-mod-active' : ''}`}
            onClick={() => model.setStatusFilter(s)}
          >
            {s} {s === ALL ? model.futures.length : counts[s]}
          </button>
        ))}
        {filter !== ALL && !counts[filter] ? (
          <button className="jp-FuturelabFilter-item jp-mod-active" data-status={filter}>
            {filter} 0
          </button>
        ) : null}
      </div>
      {model.futures.length === 0 ? (
        <div className="jp-FuturelabSection-empty">{emptyText}</div>
      ) : null}
      {model.groups.map(group => {
        const isCollapsed = collapsed[group.prefix] ?? false;
        const shown = group.futures.slice(0, ROWS_PER_GROUP);
        return (
          <div className="jp-FuturelabGroup" key={group.prefix} data-prefix={group.prefix}>
            <div
              className="jp-FuturelabGroup-header"
              onClick={() => setCollapsed({ ...collapsed, [group.prefix]: !isCollapsed })}
            >
              <span className="jp-FuturelabGroup-caret">{isCollapsed ? '▸' : '▾'}</span>
              <span className="jp-FuturelabSwatch" style={{ background: prefixColor(group.prefix) }} />
              <span className="jp-FuturelabGroup-prefix">{group.prefix}</span>
              <span className="jp-FuturelabGroup-counts">
                {STATUS_ORDER.filter(s => group.counts[s]).map(s => (
                  <span key={s} className={`jp-FuturelabBadge jp-mod-${s}`}>
                    {group.counts[s]} {s}
                  </span>
                ))}
                <span className="jp-FuturelabGroup-total">/ {group.total}</span>
              </span>
            </div>
            {isCollapsed ? null : (
              <table className="jp-FuturelabTable">
                <tbody>
                  {shown.map(f => (
                    <React.Fragment key={f.key}>
                      <tr
                        className={`jp-FuturelabFuture${model.selectedKey === f.key ? ' jp-mod-selected' : ''}`}
                        data-key={f.key}
                        data-status={f.status}
                        title={f.error || f.key}
                        onClick={() => void model.select(f.key)}
                      >
                        <td className="jp-FuturelabFuture-key">{shortKey(f.key)}</td>
                        <td>
                          <span className={`jp-FuturelabBadge jp-mod-${f.status}`}>{f.status}</span>
                        </td>
                        <td className="jp-FuturelabFuture-type">{f.type}</td>
                        <td className="jp-FuturelabFuture-worker" title={f.worker}>
                          {f.worker ? shortAddress(f.worker) : ''}
                        </td>
                        <td className="jp-FuturelabFuture-duration">{formatDuration(f.duration)}</td>
                        <td className="jp-FuturelabFuture-actions">
                          <FutureActions model={model} future={f} />
                        </td>
                      </tr>
                      {model.selectedKey === f.key ? <DetailRow model={model} /> : null}
                    </React.Fragment>
                  ))}
                </tbody>
              </table>
            )}
            {!isCollapsed && group.futures.length > shown.length ? (
              <div className="jp-FuturelabSection-more">
                … and {group.futures.length - shown.length} more
              </div>
            ) : null}
          </div>
        );
      })}
    </div>
  );
}

// ------------------------------------------------------------------ task stream

const CHART_WIDTH = 360;
const LABEL_WIDTH = 40;
const LANE_HEIGHT = 16;
const AXIS_HEIGHT = 14;

export function StreamChart({
  data,
  width = CHART_WIDTH
}: {
  data: IStreamData;
  /** the viewBox width: the chart scales to its container, labels keep this scale */
  width?: number;
}): JSX.Element {
  const span = data.t1 - data.t0;
  const plot = width - LABEL_WIDTH - 4;
  const x = (t: number) => LABEL_WIDTH + ((t - data.t0) / span) * plot;
  const height = Math.max(1, data.lanes.length) * LANE_HEIGHT + AXIS_HEIGHT;
  const workers: string[] = [];
  for (const lane of data.lanes) {
    if (!workers.includes(lane.worker)) {
      workers.push(lane.worker);
    }
  }
  return (
    <svg
      className="jp-FuturelabStream-chart"
      viewBox={`0 0 ${width} ${height}`}
      width="100%"
      role="img"
      aria-label="Task stream"
    >
      {data.lanes.map((lane, i) => (
        <g key={lane.id} className="jp-FuturelabStream-lane" data-lane={lane.id}>
          <rect
            className="jp-FuturelabStream-laneBg"
            x={LABEL_WIDTH}
            y={i * LANE_HEIGHT}
            width={plot}
            height={LANE_HEIGHT - 2}
          />
          <text className="jp-FuturelabStream-label" x={LABEL_WIDTH - 3} y={i * LANE_HEIGHT + 10}>
            {`w${workers.indexOf(lane.worker)}·t${lane.thread}`}
          </text>
          {lane.tasks.map(t => {
            const erred = t.state === 'erred';
            const x0 = x(t.start);
            const w = Math.max(1, x(t.stop) - x0);
            return (
              <g key={`${t.key}-${t.start}`}>
                <rect
                  className={`jp-FuturelabStream-task${erred ? ' jp-mod-erred' : ''}`}
                  data-prefix={t.prefix}
                  data-state={t.state}
                  x={x0}
                  y={i * LANE_HEIGHT + 1}
                  width={w}
                  height={LANE_HEIGHT - 4}
                  fill={prefixColor(t.prefix)}
                >
                  <title>{`${t.key}\n${t.state} in ${formatDuration(t.stop - t.start)}\n${t.worker} thread ${t.thread}`}</title>
                </rect>
                {erred ? (
                  <text className="jp-FuturelabStream-errMark" x={x0 + w / 2} y={i * LANE_HEIGHT + 11}>
                    ✕
                  </text>
                ) : null}
              </g>
            );
          })}
        </g>
      ))}
      <text className="jp-FuturelabStream-axis" x={LABEL_WIDTH} y={height - 3}>
        {`−${formatDuration(span)}`}
      </text>
      <text className="jp-FuturelabStream-axis jp-mod-end" x={width - 4} y={height - 3}>
        now
      </text>
    </svg>
  );
}

export function StreamView({
  model,
  width
}: {
  model: ClientModel;
  width?: number;
}): JSX.Element | null {
  if (!model.snapshot) {
    return null;
  }
  const data = model.stream;
  const ntasks = data.lanes.reduce((n, l) => n + l.tasks.length, 0);
  return (
    <div>
      <h3 className="jp-FuturelabSection-title">
        Task stream <span className="jp-FuturelabCount">{ntasks}</span>
        {data.nerred ? <span className="jp-FuturelabBadge jp-mod-error">{data.nerred} erred</span> : null}
      </h3>
      <StreamChart data={data} width={width} />
      <div className="jp-FuturelabLegend">
        {data.prefixes.map(p => (
          <span key={p} className="jp-FuturelabLegend-item">
            <span className="jp-FuturelabSwatch" style={{ background: prefixColor(p) }} />
            {p}
          </span>
        ))}
      </div>
    </div>
  );
}

// ------------------------------------------------------------------ progress

/** Progress of one task prefix; the dashboard's cluster-wide rows add processing and waiting. */
export interface IProgressRow extends IProgress {
  processing?: number;
  waiting?: number;
}

/** One bar per task prefix: done (the prefix's colour), erred, processing, out of the total. */
export function ProgressView({ model }: { model: ClientModel }): JSX.Element | null {
  const snap = model.snapshot;
  if (!snap) {
    return null;
  }
  const progress = (snap.progress ?? {}) as { [prefix: string]: IProgressRow };
  const prefixes = Object.keys(progress).sort();
  const segment = (prefix: string, n: number | undefined, kind: string, total: number) =>
    n ? (
      <span
        className={`jp-FuturelabProgress-seg jp-mod-${kind}`}
        data-kind={kind}
        style={{
          width: `${(100 * n) / total}%`,
          background: kind === 'done' ? prefixColor(prefix) : undefined
        }}
      />
    ) : null;
  return (
    <div>
      <h3 className="jp-FuturelabSection-title">
        Progress <span className="jp-FuturelabCount">{prefixes.length}</span>
      </h3>
      {prefixes.length === 0 ? <div className="jp-FuturelabSection-empty">No tasks.</div> : null}
      <table className="jp-FuturelabTable jp-FuturelabProgress">
        <tbody>
          {prefixes.map(prefix => {
            const row = progress[prefix];
            const total = Math.max(1, row.total);
            return (
              <tr key={prefix} data-prefix={prefix} className="jp-FuturelabProgress-row">
                <td className="jp-FuturelabProgress-prefix">
                  <span className="jp-FuturelabSwatch" style={{ background: prefixColor(prefix) }} />
                  {prefix}
                </td>
                <td className="jp-FuturelabProgress-barCell">
                  <div className="jp-FuturelabProgress-bar">
                    {segment(prefix, row.done, 'done', total)}
                    {segment(prefix, row.erred, 'erred', total)}
                    {segment(prefix, row.processing, 'processing', total)}
                  </div>
                </td>
                <td className="jp-FuturelabProgress-counts" data-done={row.done} data-total={row.total}>
                  {`${row.done} / ${row.total}`}
                  {row.processing ? ` · ${row.processing} running` : ''}
                  {row.erred ? ` · ${row.erred} erred` : ''}
                  {row.cancelled ? ` · ${row.cancelled} cancelled` : ''}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

// ------------------------------------------------------------------ actors

/** An actor hosted on a worker, as snapshots list them (`actors`). */
export interface IActorInfo {
  key: string;
  class?: string;
  worker?: string;
  /** calls in flight (a Client's own actors only) */
  pending?: number;
}

export function ActorsView({ model }: { model: ClientModel }): JSX.Element | null {
  const snap = model.snapshot as { actors?: IActorInfo[] } | null;
  if (!snap) {
    return null;
  }
  const actors = Array.isArray(snap.actors) ? snap.actors : [];
  return (
    <div>
      <h3 className="jp-FuturelabSection-title">
        Actors <span className="jp-FuturelabCount">{actors.length}</span>
      </h3>
      {actors.length === 0 ? <div className="jp-FuturelabSection-empty">No actors.</div> : null}
      {actors.length ? (
        <table className="jp-FuturelabTable jp-FuturelabActors">
          <thead>
            <tr>
              <th>actor</th>
              <th>class</th>
              <th>worker</th>
              {actors.some(a => typeof a.pending === 'number') ? <th>calls in flight</th> : null}
            </tr>
          </thead>
          <tbody>
            {actors.map(a => (
              <tr key={a.key} data-key={a.key} title={a.key}>
                <td>{shortKey(a.key)}</td>
                <td>{a.class ?? ''}</td>
                <td title={a.worker}>{shortAddress(a.worker ?? '')}</td>
                {typeof a.pending === 'number' ? <td>{a.pending}</td> : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}

// ------------------------------------------------------------------ workers

export function WorkersView({ model }: { model: ClientModel }): JSX.Element | null {
  if (!model.snapshot) {
    return null;
  }
  const workers = model.workers;
  return (
    <div>
      <h3 className="jp-FuturelabSection-title">
        Workers <span className="jp-FuturelabCount">{workers.length}</span>
      </h3>
      <table className="jp-FuturelabTable jp-FuturelabWorkers">
        <thead>
          <tr>
            <th>worker</th>
            <th>threads</th>
            <th>processing</th>
            <th>in memory</th>
            <th>memory</th>
          </tr>
        </thead>
        <tbody>
          {workers.map(w => (
            <tr key={w.address} data-worker={w.address} title={w.address}>
              <td>{String(w.name ?? shortAddress(w.address))}</td>
              <td>{summary(w.nthreads)}</td>
              <td>{summary(w.processing)}</td>
              <td>{summary(w.in_memory)}</td>
              <td>
                {formatBytes(w.memory)}
                {w.memory_limit ? ` / ${formatBytes(w.memory_limit)}` : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// ------------------------------------------------------------------ primitives

type Column = [string, (s: IPrimitiveItem['state'], model: ClientModel) => string];

const count = (v: unknown): string => (Array.isArray(v) ? String(v.length) : summary(v));
const clients = (v: unknown): string =>
  Array.isArray(v)
    ? v.map(c => shortClient(typeof c === 'object' && c ? (c as { client?: unknown }).client : c)).join(', ')
    : shortClient(v);

/** Columns of the known kinds; other kinds show every field. */
const COLUMNS: { [kind: string]: Column[] } = {
  queue: [
    ['depth', s => `${summary(s.depth)}${s.maxsize ? ` / ${summary(s.maxsize)}` : ''}`],
    ['waiters', s => `${count(s.getters) || 0} get, ${count(s.putters) || 0} put`],
    ['head', s => summary(s.head)]
  ],
  variable: [
    ['value', s => summary(s.value)],
    ['writer', s => shortClient(s.writer)],
    ['waiters', s => count(s.waiters)]
  ],
  lock: [
    ['state', s => (s.locked ? 'held' : 'free')],
    ['holder', s => shortClient(s.holder)],
    ['waiters', s => count(s.waiters)],
    ['held for', (s, m) => (s.locked ? formatDuration(m.elapsed(s.held_since)) : '')]
  ],
  semaphore: [
    ['leases', s => `${summary(s.leases)} / ${summary(s.max_leases)}`],
    ['holders', s => clients(s.holders)],
    ['waiters', s => count(s.waiters)]
  ],
  event: [
    ['flag', s => (s.is_set ? 'set' : 'clear')],
    ['waiters', s => count(s.waiters)]
  ],
  pubsub: [
    ['published', s => summary(s.published)],
    ['subscribers', s => count(s.subscribers)],
    ['publishers', s => count(s.publishers)]
  ]
};

function genericColumns(items: IPrimitiveItem[]): Column[] {
  const fields: string[] = [];
  for (const item of items) {
    for (const f of Object.keys(item.state)) {
      if (f !== 'name' && !fields.includes(f)) {
        fields.push(f);
      }
    }
  }
  return fields.map(f => [f, s => summary(s[f])] as Column);
}

export function PrimitivesView({ model }: { model: ClientModel }): JSX.Element | null {
  if (!model.snapshot) {
    return null;
  }
  const kinds = model.primitives;
  return (
    <div>
      <h3 className="jp-FuturelabSection-title">Primitives</h3>
      {kinds.length === 0 ? (
        <div className="jp-FuturelabSection-empty">
          No queues, variables, locks, semaphores, events or topics in use.
        </div>
      ) : null}
      {kinds.map(kind => {
        const columns = COLUMNS[kind.kind] ?? genericColumns(kind.items);
        return (
          <div key={kind.kind} className="jp-FuturelabPrimitives" data-kind={kind.kind}>
            <h4 className="jp-FuturelabPrimitives-kind">{kind.label}</h4>
            <table className="jp-FuturelabTable">
              <thead>
                <tr>
                  <th>name</th>
                  {columns.map(([label]) => (
                    <th key={label}>{label}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {kind.items.map(item => (
                  <tr key={item.name} data-name={item.name} title={JSON.stringify(item.state, null, 1)}>
                    <td className="jp-FuturelabPrimitives-name">{item.name}</td>
                    {columns.map(([label, get]) => (
                      <td key={label} data-field={label}>
                        {get(item.state, model)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        );
      })}
    </div>
  );
}
