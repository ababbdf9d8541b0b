/**
 * The dashboard page's link to the scheduler: a WebSocket (`ws` next to the
 * page, so it works behind jupyter-server-proxy's `/proxy/<port>/`) feeding the
 * sidebar's ClientModel with the same messages the kernel's bridge sends
 * (`{type: "snapshot"}`, `{type: "reply"}`) and carrying the model's actions
 * back. Reconnects with a growing delay; the last snapshot stays on screen
 * meanwhile. No DOM beyond `WebSocket` and `location`.
 */
import { ISignal, Signal } from '@lumino/signaling';

import type { ClientModel } from '../model';

export type LinkState = 'connecting' | 'open' | 'closed';

/** The WebSocket URL for a page at `pageUrl` (http → ws, https → wss, token kept). */
export function socketUrl(pageUrl: string): string {
  const page = new URL(pageUrl);
  const url = new URL('ws', page);
  url.protocol = page.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = '';
  const token = page.searchParams.get('token');
  if (token) {
    url.searchParams.set('token', token);
  }
  url.hash = '';
  return url.toString();
}

export interface ISocketLike {
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(): void;
}

export class DashboardLink {
  constructor(
    private readonly _model: ClientModel,
    private readonly _url: string,
    private readonly _open: (url: string) => ISocketLike = url =>
      new WebSocket(url) as unknown as ISocketLike
  ) {}

  get state(): LinkState {
    return this._state;
  }

  /** Emitted when `state` changes. */
  get stateChanged(): ISignal<this, LinkState> {
    return this._stateChanged;
  }

  /** Messages received (tests and the page's footer). */
  get received(): number {
    return this._received;
  }

  connect(): void {
    this._stopped = false;
    this._setState('connecting');
    const ws = this._open(this._url);
    this._ws = ws;
    ws.onopen = () => {
      this._delay = MIN_DELAY_MS;
      this._model.setSender({ send: data => ws.send(JSON.stringify(data)) });
      this._setState('open');
    };
    ws.onmessage = ev => {
      if (typeof ev.data !== 'string') {
        return;
      }
      this._received++;
      try {
        this._model.handleMessage(JSON.parse(ev.data));
      } catch (e) {
        console.warn('futurelab dashboard: bad message', e);
      }
    };
    ws.onclose = () => {
      if (this._ws !== ws) {
        return;
      }
      this._ws = null;
      this._model.setSender(null);
      this._setState('closed');
      if (!this._stopped) {
        this._timer = setTimeout(() => this.connect(), this._delay);
        this._delay = Math.min(MAX_DELAY_MS, this._delay * 2);
      }
    };
  }

  /** Ask for a fresh snapshot now. */
  refresh(): void {
    this._model.refresh();
  }

  dispose(): void {
    this._stopped = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this._ws?.close();
    this._ws = null;
    Signal.clearData(this);
  }

  private _setState(state: LinkState): void {
    if (state !== this._state) {
      this._state = state;
      this._stateChanged.emit(state);
    }
  }

  private _state: LinkState = 'closed';
  private _stateChanged = new Signal<this, LinkState>(this);
  private _ws: ISocketLike | null = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _delay = MIN_DELAY_MS;
  private _stopped = false;
  private _received = 0;
}

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;
