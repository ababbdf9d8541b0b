/**
 * KernelFollower: follows the kernel of the active notebook (or console) and
 * keeps one futurelab comm open to it, feeding the ClientModel.
 *
 * - Active widget: the shell's current widget if it is a notebook or console,
 *   else the one followed last; switching notebooks rebinds.
 * - Connecting: `kernel.createComm(COMM_TARGET)`, then, when the kernel
 *   supports subshells, `await comm.subshellStarted` before `comm.open()` so
 *   the kernel handles the sidebar's actions on a subshell, even while a cell
 *   is busy (toolchain.md pitfall 6).
 * - No Client yet: the kernel has not registered the target and closes the
 *   comm. When a Client starts, the kernel opens a comm to ANNOUNCE_TARGET
 *   (registered here on every kernel connection) and the follower connects.
 * - Kernel restart / change: the comm is dropped, the model goes back to its
 *   empty state, and the announce of the next Client reconnects.
 * - Only while the sidebar is shown (`setActive`): a hidden sidebar keeps no
 *   comm open, so the kernel's bridge publishes nothing and costs nothing.
 */
import type { ISessionContext } from '@jupyterlab/apputils';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import type { Widget } from '@lumino/widgets';

import type { ClientModel } from './model';
import { ANNOUNCE_TARGET, COMM_TARGET, ISender } from './tokens';

/** A notebook or console panel: anything with a session context. */
export interface IKernelWidget extends Widget {
  sessionContext: ISessionContext;
}

/** What the follower needs from JupyterLab (trackers, shell). */
export interface IFollowerOptions {
  model: ClientModel;
  /** is `widget` a notebook or console the sidebar should follow? */
  isKernelWidget: (widget: Widget | null) => widget is IKernelWidget;
  /** the most recent notebook/console when the current widget is neither */
  fallback: () => IKernelWidget | null;
}

export class KernelFollower {
  constructor(options: IFollowerOptions) {
    this._model = options.model;
    this._isKernelWidget = options.isKernelWidget;
    this._fallback = options.fallback;
  }

  /** The widget whose kernel is followed. */
  get widget(): IKernelWidget | null {
    return this._widget;
  }

  /** Call when the current widget changes (shell or trackers). */
  update(current: Widget | null): void {
    const next = this._isKernelWidget(current)
      ? current
      : this._widget && !this._widget.isDisposed
        ? this._widget
        : this._fallback();
    if (next !== this._widget) {
      this._follow(next);
    }
  }

  /** Keep a comm open (the sidebar is shown) or not (hidden). */
  setActive(active: boolean): void {
    if (active === this._active) {
      return;
    }
    this._active = active;
    if (!active) {
      this._closeComm();
      this._model.setSender(null);
      this._model.setConnection(this._kernel ? 'no-client' : this._model.connection);
    } else if (this._kernel) {
      this._model.setConnection('connecting');
      void this._connect(this._kernel);
    }
  }

  /** Ask the kernel for a fresh snapshot, or (re)connect if no comm is open. */
  refresh(): void {
    if (this._comm) {
      this._model.refresh();
    } else if (this._kernel && this._active) {
      void this._connect(this._kernel);
    }
  }

  dispose(): void {
    this._follow(null);
  }

  // ------------------------------------------------------------------ following

  private _follow(widget: IKernelWidget | null): void {
    if (this._widget) {
      this._widget.sessionContext.kernelChanged.disconnect(this._onKernelChanged, this);
      this._widget.disposed.disconnect(this._onWidgetDisposed, this);
    }
    this._widget = widget;
    if (widget) {
      widget.sessionContext.kernelChanged.connect(this._onKernelChanged, this);
      widget.disposed.connect(this._onWidgetDisposed, this);
    }
    this._bindKernel(widget?.sessionContext.session?.kernel ?? null);
  }

  private _onWidgetDisposed(): void {
    this._follow(this._fallback());
  }

  private _onKernelChanged(
    _: ISessionContext,
    change: { newValue: Kernel.IKernelConnection | null }
  ): void {
    this._bindKernel(change.newValue);
  }

  private _label(): string {
    const w = this._widget;
    if (!w) {
      return '';
    }
    return w.title.label || w.sessionContext.name || w.sessionContext.path;
  }

  private _bindKernel(kernel: Kernel.IKernelConnection | null): void {
    if (this._kernel) {
      this._kernel.statusChanged.disconnect(this._onStatus, this);
    }
    this._closeComm();
    this._kernel = kernel;
    this._model.setSource(
      this._label(),
      kernel && this._active ? 'connecting' : this._widget ? 'no-client' : 'no-kernel'
    );
    if (!kernel) {
      return;
    }
    followers.set(kernel, this);
    kernel.statusChanged.connect(this._onStatus, this);
    this._registerAnnounce(kernel);
    if (this._active) {
      void this._connect(kernel);
    }
  }

  /** Once per kernel connection (registrations survive kernel restarts). */
  private _registerAnnounce(kernel: Kernel.IKernelConnection): void {
    if (announced.has(kernel)) {
      return;
    }
    announced.add(kernel);
    kernel.registerCommTarget(ANNOUNCE_TARGET, comm => {
      // a Client just started in that kernel: connect if it is the followed one
      comm.onClose = () => undefined;
      const follower = followers.get(kernel);
      if (
        follower &&
        follower._active &&
        follower._kernel === kernel &&
        !follower._comm &&
        !kernel.isDisposed
      ) {
        void follower._connect(kernel);
      }
    });
  }

  private _onStatus(kernel: Kernel.IKernelConnection, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
      this._closeComm();
      this._model.setSender(null);
      this._model.setConnection('no-client');
    }
  }

  // ------------------------------------------------------------------ the comm

  private async _connect(kernel: Kernel.IKernelConnection): Promise<void> {
    const generation = this._generation;
    if (this._connectingGeneration === generation || kernel.isDisposed) {
      return; // already connecting for this binding
    }
    this._connectingGeneration = generation;
    try {
      const comm = kernel.createComm(COMM_TARGET);
      const live = () => generation === this._generation && this._kernel === kernel;
      comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => {
        if (live()) {
          this._model.handleMessage(msg.content.data as never);
        }
      };
      comm.onClose = () => {
        if (live() && this._comm === comm) {
          this._comm = null;
          this._model.setSender(null);
          this._model.setConnection('no-client');
        }
      };
      // pitfall 6: open the comm only once its subshell exists
      const started = (comm as unknown as { subshellStarted?: Promise<void> }).subshellStarted;
      if (kernel.supportsSubshells && started) {
        await started;
      }
      if (!live()) {
        comm.dispose();
        return;
      }
      this._comm = comm;
      const sender: ISender = { send: data => void comm.send(data as never) };
      this._model.setSender(sender);
      comm.open({});
    } catch (e) {
      console.warn('futurelab: could not open the sidebar comm', e);
      if (generation === this._generation) {
        this._comm = null;
        this._model.setConnection('no-client');
      }
    } finally {
      if (this._connectingGeneration === generation) {
        this._connectingGeneration = -1;
      }
    }
  }

  private _closeComm(): void {
    this._generation++;
    const comm = this._comm;
    this._comm = null;
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        comm.dispose();
      }
    }
  }

  private _model: ClientModel;
  private _isKernelWidget: IFollowerOptions['isKernelWidget'];
  private _fallback: IFollowerOptions['fallback'];
  private _widget: IKernelWidget | null = null;
  private _kernel: Kernel.IKernelConnection | null = null;
  private _comm: Kernel.IComm | null = null;
  private _connectingGeneration = -1;
  private _generation = 0;
  private _active = false;
}

/** Kernel connections whose announce target is registered. */
const announced = new WeakSet<Kernel.IKernelConnection>();
/** The follower listening to each kernel connection's announcements. */
const followers = new WeakMap<Kernel.IKernelConnection, KernelFollower>();
