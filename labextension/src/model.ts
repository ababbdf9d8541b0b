/**
 * ClientModel: what the sidebar knows about the kernel's Client, fed by the
 * messages of the kernel's futurelab bridge. No DOM: it keeps state, derives
 * what the views show, sends actions through an ISender and emits `changed`.
 *
 * Tests feed it recorded comm messages (`__tests__/model.spec.ts`).
 */
import { ISignal, Signal } from '@lumino/signaling';

import type {
  ActionName,
  IClientSnapshot,
  IFutureInfo,
  IReplyMessage,
  ISender,
  IStreamTask,
  IWorkerInfo,
  KernelMessage
} from './tokens';

/** Where the sidebar stands with the followed kernel. */
export type ConnectionState =
  /** no notebook or console is active */
  | 'no-kernel'
  /** opening the comm */
  | 'connecting'
  /** the kernel has no running Client (comm refused, or a null snapshot) */
  | 'no-client'
  /** snapshots are flowing */
  | 'connected';

/** Status filter value meaning "every status". */
export const ALL = 'all';

/** The futures of one task prefix. */
export interface IFutureGroup {
  prefix: string;
  futures: IFutureInfo[];
  /** how many futures of this prefix (before the status filter) have each status */
  counts: { [status: string]: number };
  total: number;
}

/** One worker, flattened for a table. */
export interface IWorkerRow extends IWorkerInfo {
  address: string;
}

/** One lane (worker thread) of the task stream, and its bars. */
export interface IStreamLane {
  id: string;
  worker: string;
  thread: number;
  tasks: IStreamTask[];
}

/** The task-stream chart's data: lanes and the time window [t0, t1] (kernel clock). */
export interface IStreamData {
  lanes: IStreamLane[];
  t0: number;
  t1: number;
  prefixes: string[];
  nerred: number;
}

/** One primitive of some kind. */
export interface IPrimitiveItem {
  name: string;
  state: { [field: string]: unknown };
}

/** All primitives of one kind. */
export interface IPrimitiveKind {
  kind: string;
  label: string;
  items: IPrimitiveItem[];
}

/** The detail of the selected future (exception and traceback). */
export interface IDetail {
  key: string;
  loading: boolean;
  status?: string;
  error?: string;
  traceback?: string;
}

/** Kinds in display order with their labels; any other kind is shown after them. */
export const PRIMITIVE_KINDS: { [kind: string]: string } = {
  queue: 'Queues',
  variable: 'Variables',
  lock: 'Locks',
  semaphore: 'Semaphores',
  event: 'Events',
  pubsub: 'Pub/Sub topics'
};

/** "locks" → "lock", "pubsub" → "pubsub", unknown kinds unchanged. */
export function normalizeKind(kind: string): string {
  if (kind in PRIMITIVE_KINDS) {
    return kind;
  }
  const singular = kind.endsWith('s') ? kind.slice(0, -1) : kind;
  return singular in PRIMITIVE_KINDS ? singular : kind;
}

/** Statuses in the order the filter lists them. */
export const STATUS_ORDER = ['pending', 'processing', 'finished', 'error', 'cancelled', 'lost'];

const REQUEST_TIMEOUT_MS = 15000;

interface IPending {
  resolve: (reply: IReplyMessage) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** The sidebar's model of the kernel's Client. */
export class ClientModel {
  /** Emitted after any change (snapshot, connection, filter, selection, notice). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Label of the followed kernel's document ("Untitled.ipynb"), or '' when none. */
  get source(): string {
    return this._source;
  }

  get connection(): ConnectionState {
    return this._connection;
  }

  /** The latest snapshot, or null (no Client, or not connected yet). */
  get snapshot(): IClientSnapshot | null {
    return this._snapshot;
  }

  /** Number of snapshots received since the kernel was bound (tests and debugging). */
  get snapshotsReceived(): number {
    return this._received;
  }

  get statusFilter(): string {
    return this._filter;
  }

  get selectedKey(): string | null {
    return this._detail ? this._detail.key : null;
  }

  get detail(): IDetail | null {
    return this._detail;
  }

  /** The last action failure, shown until the next action. */
  get notice(): string {
    return this._notice;
  }

  // ------------------------------------------------------------------ inputs

  /** Bind to another kernel (or none): forget everything about the previous one. */
  setSource(source: string, connection: ConnectionState): void {
    this._source = source;
    this._sender = null;
    this._snapshot = null;
    this._received = 0;
    this._detail = null;
    this._notice = '';
    this._derived = null;
    this._rejectPending('the sidebar switched kernels');
    this._connection = connection;
    this._changed.emit();
  }

  /** The comm to send actions on (null: none open). */
  setSender(sender: ISender | null): void {
    this._sender = sender;
    if (!sender) {
      this._rejectPending('the comm closed');
    }
  }

  setConnection(state: ConnectionState): void {
    if (state === this._connection) {
      return;
    }
    this._connection = state;
    if (state !== 'connected') {
      this._snapshot = null;
      this._derived = null;
      this._detail = null;
    }
    this._changed.emit();
  }

  /** Handle one message from the kernel's bridge (the `data` of a comm_msg). */
  handleMessage(data: KernelMessage | { type?: unknown }): void {
    if (!data || typeof data !== 'object') {
      return;
    }
    if (data.type === 'snapshot') {
      const snap = (data as { snapshot: IClientSnapshot | null }).snapshot;
      this._received++;
      this._snapshot = snap;
      this._derived = null;
      this._connection = snap ? 'connected' : 'no-client';
      if (!snap) {
        this._detail = null;
      }
      this._changed.emit();
    } else if (data.type === 'reply') {
      const reply = data as IReplyMessage;
      const pending = this._pending.get(reply.id);
      if (pending) {
        this._pending.delete(reply.id);
        clearTimeout(pending.timer);
        pending.resolve(reply);
      }
    }
  }

  // ------------------------------------------------------------------ user actions

  setStatusFilter(status: string): void {
    if (status !== this._filter) {
      this._filter = status;
      this._derived = null;
      this._changed.emit();
    }
  }

  /** Cancel a pending or running future. Resolves to the kernel's reply (ok or not). */
  cancel(key: string): Promise<IReplyMessage> {
    return this._action('cancel', key);
  }

  /** Run an erred future again. */
  retry(key: string): Promise<IReplyMessage> {
    return this._action('retry', key);
  }

  /** Select a future (or none) and fetch its exception and traceback. */
  async select(key: string | null): Promise<void> {
    if (key === null || key === this.selectedKey) {
      this._detail = null;
      this._changed.emit();
      return;
    }
    this._detail = { key, loading: true };
    this._changed.emit();
    let reply: IReplyMessage;
    try {
      reply = await this._request('detail', key);
    } catch (e) {
      reply = { type: 'reply', id: -1, ok: false, error: String((e as Error).message ?? e) };
    }
    if (this._detail?.key !== key) {
      return; // another selection meanwhile
    }
    this._detail = reply.ok
      ? { key, loading: false, status: reply.status, error: reply.error, traceback: reply.traceback }
      : { key, loading: false, error: reply.error };
    this._changed.emit();
  }

  /** Ask the kernel for a fresh snapshot. */
  refresh(): void {
    this._sender?.send({ type: 'refresh' });
  }

  // ------------------------------------------------------------------ derived data

  /** Every future of the snapshot (ignores the filter). */
  get futures(): IFutureInfo[] {
    return this._snapshot ? this._snapshot.futures : [];
  }

  /** Futures passing the status filter. */
  get filteredFutures(): IFutureInfo[] {
    return this._derive().filtered;
  }

  /** How many futures have each status (before the filter). */
  get statusCounts(): { [status: string]: number } {
    return this._derive().counts;
  }

  /** Filtered futures grouped by task prefix, in order of first appearance. */
  get groups(): IFutureGroup[] {
    return this._derive().groups;
  }

  get workers(): IWorkerRow[] {
    return this._derive().workers;
  }

  get stream(): IStreamData {
    return this._derive().stream;
  }

  /** Primitives by kind (known kinds first), kinds without any primitive left out. */
  get primitives(): IPrimitiveKind[] {
    return this._derive().primitives;
  }

  /** Find a future of the snapshot by key. */
  future(key: string): IFutureInfo | undefined {
    return this.futures.find(f => f.key === key);
  }

  /** Seconds since `since` (kernel clock), as of the latest snapshot. */
  elapsed(since: unknown): number | null {
    if (typeof since !== 'number' || !this._snapshot) {
      return null;
    }
    return Math.max(0, this._snapshot.time - since);
  }

  /** Reject pending requests; the model is not used afterwards. */
  dispose(): void {
    this._rejectPending('disposed');
    Signal.clearData(this);
  }

  // ------------------------------------------------------------------ internals

  private async _action(action: ActionName, key: string): Promise<IReplyMessage> {
    this._notice = '';
    let reply: IReplyMessage;
    try {
      reply = await this._request(action, key);
    } catch (e) {
      reply = { type: 'reply', id: -1, ok: false, error: String((e as Error).message ?? e) };
    }
    if (!reply.ok) {
      this._notice = `${action} failed: ${reply.error ?? 'unknown error'}`;
    }
    this._changed.emit();
    return reply;
  }

  private _request(action: ActionName, key: string): Promise<IReplyMessage> {
    const sender = this._sender;
    if (!sender) {
      return Promise.reject(new Error('not connected to a kernel with a Client'));
    }
    const id = ++this._nextId;
    return new Promise<IReplyMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new Error(`no answer from the kernel to ${action} within ${REQUEST_TIMEOUT_MS / 1000} s`));
      }, REQUEST_TIMEOUT_MS);
      this._pending.set(id, { resolve, reject, timer });
      try {
        sender.send({ type: 'action', id, action, key });
      } catch (e) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(e as Error);
      }
    });
  }

  private _rejectPending(reason: string): void {
    const pending = Array.from(this._pending.values());
    this._pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new Error(reason));
    }
  }

  private _derive(): Derived {
    if (!this._derived) {
      this._derived = derive(this._snapshot, this._filter);
    }
    return this._derived;
  }

  private _changed = new Signal<this, void>(this);
  private _source = '';
  private _connection: ConnectionState = 'no-kernel';
  private _snapshot: IClientSnapshot | null = null;
  private _received = 0;
  private _filter = ALL;
  private _detail: IDetail | null = null;
  private _notice = '';
  private _sender: ISender | null = null;
  private _nextId = 0;
  private _pending = new Map<number, IPending>();
  private _derived: Derived | null = null;
}

interface Derived {
  filtered: IFutureInfo[];
  counts: { [status: string]: number };
  groups: IFutureGroup[];
  workers: IWorkerRow[];
  stream: IStreamData;
  primitives: IPrimitiveKind[];
}

/** Everything the views show, computed once per snapshot (and filter). */
function derive(snap: IClientSnapshot | null, filter: string): Derived {
  const futures = snap ? snap.futures : [];
  const counts: { [status: string]: number } = {};
  const byPrefix = new Map<string, IFutureGroup>();
  const filtered: IFutureInfo[] = [];
  for (const f of futures) {
    counts[f.status] = (counts[f.status] ?? 0) + 1;
    let group = byPrefix.get(f.prefix);
    if (!group) {
      group = { prefix: f.prefix, futures: [], counts: {}, total: 0 };
      byPrefix.set(f.prefix, group);
    }
    group.total++;
    group.counts[f.status] = (group.counts[f.status] ?? 0) + 1;
    if (filter === ALL || f.status === filter) {
      filtered.push(f);
      group.futures.push(f);
    }
  }
  const groups = Array.from(byPrefix.values()).filter(g => g.futures.length > 0);

  const workers: IWorkerRow[] = snap
    ? Object.keys(snap.workers)
        .map(address => ({ ...snap.workers[address], address }))
        .sort((a, b) => String(a.name ?? a.address).localeCompare(String(b.name ?? b.address)))
    : [];

  return {
    filtered,
    counts,
    groups,
    workers,
    stream: deriveStream(snap, workers),
    primitives: derivePrimitives(snap)
  };
}

function deriveStream(snap: IClientSnapshot | null, workers: IWorkerRow[]): IStreamData {
  const lanes = new Map<string, IStreamLane>();
  const prefixes: string[] = [];
  let t0 = Infinity;
  let t1 = snap ? snap.time : 0;
  let nerred = 0;
  // one lane per thread of every known worker, so idle threads show too
  for (const w of workers) {
    const n = typeof w.nthreads === 'number' ? w.nthreads : 0;
    for (let thread = 0; thread < n; thread++) {
      const id = `${w.address}#${thread}`;
      lanes.set(id, { id, worker: w.address, thread, tasks: [] });
    }
  }
  for (const task of snap ? snap.stream : []) {
    const id = `${task.worker}#${task.thread}`;
    let lane = lanes.get(id);
    if (!lane) {
      lane = { id, worker: task.worker, thread: task.thread, tasks: [] };
      lanes.set(id, lane);
    }
    lane.tasks.push(task);
    if (!prefixes.includes(task.prefix)) {
      prefixes.push(task.prefix);
    }
    if (task.state === 'erred') {
      nerred++;
    }
    t0 = Math.min(t0, task.start);
    t1 = Math.max(t1, task.stop);
  }
  if (!isFinite(t0)) {
    t0 = t1 - 1;
  }
  const sorted = Array.from(lanes.values()).sort((a, b) =>
    a.worker === b.worker ? a.thread - b.thread : a.worker.localeCompare(b.worker)
  );
  return { lanes: sorted, t0, t1: Math.max(t1, t0 + 1e-3), prefixes, nerred };
}

function derivePrimitives(snap: IClientSnapshot | null): IPrimitiveKind[] {
  const kinds = new Map<string, IPrimitiveKind>();
  const prims = snap ? snap.primitives ?? {} : {};
  for (const rawKind of Object.keys(prims)) {
    const section = prims[rawKind];
    if (!section || typeof section !== 'object') {
      continue;
    }
    const kind = normalizeKind(rawKind);
    let entry = kinds.get(kind);
    if (!entry) {
      entry = { kind, label: PRIMITIVE_KINDS[kind] ?? kind, items: [] };
      kinds.set(kind, entry);
    }
    for (const name of Object.keys(section)) {
      const state = section[name];
      const item = { name, state: state && typeof state === 'object' ? state : { value: state } };
      const at = entry.items.findIndex(i => i.name === name);
      if (at >= 0) {
        entry.items[at] = item; // the same primitive under "lock" and "locks": later wins
      } else {
        entry.items.push(item);
      }
    }
  }
  const order = Object.keys(PRIMITIVE_KINDS);
  return Array.from(kinds.values())
    .filter(k => k.items.length > 0)
    .map(k => ({ ...k, items: k.items.sort((a, b) => a.name.localeCompare(b.name)) }))
    .sort((a, b) => {
      const ia = order.indexOf(a.kind);
      const ib = order.indexOf(b.kind);
      return (ia < 0 ? order.length : ia) - (ib < 0 ? order.length : ib) || a.kind.localeCompare(b.kind);
    });
}
