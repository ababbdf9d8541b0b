/**
 * The dashboard page's WebSocket link, with a fake socket: it feeds the
 * sidebar's ClientModel, carries its actions and reconnects.
 */
import { ClientModel } from '../../model';
import { DashboardLink, ISocketLike, socketUrl } from '../connection';

class FakeSocket implements ISocketLike {
  constructor(readonly url: string) {}
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  sent: unknown[] = [];
  closed = false;
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(): void {
    this.closed = true;
  }
}

const snapshot = {
  client: { id: 'cluster', scheduler: 'tcp://127.0.0.1:8786', status: 'running' },
  version: 1,
  time: 100,
  workers: { 'tcp://w:1': { name: 'w', nthreads: 2 } },
  futures: [{ key: 'inc-1', prefix: 'inc', status: 'processing', type: '', worker: 'tcp://w:1', duration: null, error: '' }],
  nfutures: 1,
  progress: { inc: { done: 0, erred: 0, cancelled: 0, total: 1, processing: 1, waiting: 0 } },
  stream: [],
  primitives: {},
  actors: []
};

describe('socketUrl', () => {
  it('puts the socket next to the page, keeping the token', () => {
    expect(socketUrl('http://127.0.0.1:8787/status')).toBe('ws://127.0.0.1:8787/ws');
    expect(socketUrl('http://127.0.0.1:8787/')).toBe('ws://127.0.0.1:8787/ws');
    expect(socketUrl('https://hub.example.org/user/ada/proxy/8787/status?token=abc#x')).toBe(
      'wss://hub.example.org/user/ada/proxy/8787/ws?token=abc'
    );
  });
});

describe('DashboardLink', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('feeds the model, sends its actions and reconnects', async () => {
    const model = new ClientModel();
    const sockets: FakeSocket[] = [];
    const link = new DashboardLink(model, 'ws://x/ws', url => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    });
    const states: string[] = [];
    link.stateChanged.connect((_, s) => states.push(s));
    link.connect();
    expect(link.state).toBe('connecting');
    sockets[0].onopen!({});
    sockets[0].onmessage!({ data: JSON.stringify({ type: 'snapshot', snapshot }) });
    expect(model.connection).toBe('connected');
    expect(model.workers).toHaveLength(1);
    expect(model.groups[0].prefix).toBe('inc');

    const reply = model.cancel('inc-1');
    const sent = sockets[0].sent[0] as { id: number; action: string; key: string };
    expect(sent).toMatchObject({ type: 'action', action: 'cancel', key: 'inc-1' });
    sockets[0].onmessage!({ data: JSON.stringify({ type: 'reply', id: sent.id, ok: true }) });
    expect((await reply).ok).toBe(true);

    sockets[0].onclose!({});
    expect(link.state).toBe('closed');
    expect(model.snapshot).not.toBeNull(); // the last state stays on screen
    jest.advanceTimersByTime(600);
    expect(sockets).toHaveLength(2);
    expect(states).toEqual(['connecting', 'open', 'closed', 'connecting']);
    link.dispose();
    expect(sockets[1].closed).toBe(true);
    jest.advanceTimersByTime(10_000);
    expect(sockets).toHaveLength(2);
  });
});
