/**
 * Shared ids and the shapes of the messages exchanged with the kernel's
 * futurelab bridge (python/futurelab/jupyter/bridge.py). No runtime deps.
 */

/** Id of the sidebar panel; the sidebar tab carries it as `data-id`. */
export const SIDEBAR_ID = 'futurelab-sidebar';

/** Plugin ids. */
export const PLUGIN_IDS = {
  sidebar: 'futurelab:sidebar'
};

/** Comm target the kernel registers (the sidebar opens comms to it). */
export const COMM_TARGET = 'futurelab.sidebar';

/** Comm target the front end registers: the kernel announces a new Client on it. */
export const ANNOUNCE_TARGET = 'futurelab.announce';

/** Command ids. */
export namespace CommandIDs {
  export const cancel = 'futurelab:cancel-future';
  export const retry = 'futurelab:retry-future';
  export const refresh = 'futurelab:refresh';
}

/** Future status as the sidebar shows it ("processing" = pending and running on a worker). */
export type FutureStatus =
  | 'pending'
  | 'processing'
  | 'finished'
  | 'error'
  | 'cancelled'
  | 'lost'
  | string;

/** One future held by the kernel's Client. */
export interface IFutureInfo {
  key: string;
  prefix: string;
  status: FutureStatus;
  type: string;
  worker: string;
  duration: number | null;
  error: string;
}

/** One worker of the cluster (unknown fields are kept). */
export interface IWorkerInfo {
  name?: string;
  nthreads?: number;
  processing?: number;
  in_memory?: number;
  memory?: number;
  memory_limit?: number;
  [field: string]: unknown;
}

/** A recently finished task: one bar of the task-stream chart. */
export interface IStreamTask {
  key: string;
  prefix: string;
  worker: string;
  thread: number;
  start: number;
  stop: number;
  state: 'memory' | 'erred' | string;
}

/** Counts per task prefix. */
export interface IProgress {
  done: number;
  erred: number;
  cancelled: number;
  total: number;
}

/** `LiveModel.snapshot()` of the kernel's Client. */
export interface IClientSnapshot {
  client: { id: string; scheduler: string | null; status: string };
  version: number;
  /** kernel clock (seconds since the epoch) when the snapshot was taken */
  time: number;
  workers: { [address: string]: IWorkerInfo };
  futures: IFutureInfo[];
  nfutures: number;
  progress: { [prefix: string]: IProgress };
  stream: IStreamTask[];
  /** {kind: {name: state}}; kinds may be singular or plural ("lock" / "locks") */
  primitives: { [kind: string]: { [name: string]: { [field: string]: unknown } } };
}

/** Kernel → sidebar: the current state (null: the kernel has no running Client). */
export interface ISnapshotMessage {
  type: 'snapshot';
  protocol?: number;
  snapshot: IClientSnapshot | null;
}

/** Kernel → sidebar: the answer to an action. */
export interface IReplyMessage {
  type: 'reply';
  id: number;
  action?: string;
  key?: string;
  ok: boolean;
  error?: string;
  /** detail replies */
  status?: string;
  traceback?: string;
}

export type KernelMessage = ISnapshotMessage | IReplyMessage;

/** Sidebar → kernel. */
export type ActionName = 'cancel' | 'retry' | 'detail';

export interface IActionRequest {
  type: 'action';
  id: number;
  action: ActionName;
  key: string;
}

/** Where the model sends its requests (the comm, or a fake in tests). */
export interface ISender {
  send(data: IActionRequest | { type: 'refresh' }): void;
}
