/**
 * ClientModel fed by comm messages recorded from a real kernel
 * (fixtures/session.json, written by fixtures/record.py).
 */
import { ClientModel, normalizeKind } from '../model';
import type { IActionRequest, IClientSnapshot, IReplyMessage, KernelMessage } from '../tokens';

import sessionJson from './fixtures/session.json';

const session = sessionJson as unknown as { step: string; data: KernelMessage }[];

function recorded(step: string): KernelMessage {
  const found = session.find(m => m.step === step);
  if (!found) {
    throw new Error(`no recorded step ${step}`);
  }
  return JSON.parse(JSON.stringify(found.data));
}

function snapshotOf(step: string): IClientSnapshot {
  const msg = recorded(step);
  if (msg.type !== 'snapshot' || !msg.snapshot) {
    throw new Error(`${step} is not a snapshot`);
  }
  return msg.snapshot;
}

/** A sender that records what the model sends. */
class FakeComm {
  sent: (IActionRequest | { type: 'refresh' })[] = [];
  send(data: IActionRequest | { type: 'refresh' }): void {
    this.sent.push(data);
  }
  get last(): IActionRequest {
    return this.sent[this.sent.length - 1] as IActionRequest;
  }
}

const models: ClientModel[] = [];
afterEach(() => models.splice(0).forEach(m => m.dispose())); // no request timer left behind

function newModel(): ClientModel {
  const model = new ClientModel();
  models.push(model);
  return model;
}

function connectedModel(): { model: ClientModel; comm: FakeComm; changes: () => number } {
  const model = newModel();
  const comm = new FakeComm();
  let n = 0;
  model.changed.connect(() => n++);
  model.setSource('Untitled.ipynb', 'connecting');
  model.setSender(comm);
  return { model, comm, changes: () => n };
}

describe('ClientModel fed by recorded comm messages', () => {
  it('starts with no kernel and goes to connecting when bound', () => {
    const model = newModel();
    expect(model.connection).toBe('no-kernel');
    expect(model.snapshot).toBeNull();
    model.setSource('Untitled.ipynb', 'connecting');
    expect(model.source).toBe('Untitled.ipynb');
    expect(model.connection).toBe('connecting');
    expect(model.futures).toEqual([]);
    expect(model.groups).toEqual([]);
  });

  it('shows the Client, its worker and one idle stream lane per thread', () => {
    const { model, changes } = connectedModel();
    model.handleMessage(recorded('connected'));
    expect(model.connection).toBe('connected');
    expect(model.snapshot?.client.status).toBe('running');
    expect(model.workers).toHaveLength(1);
    expect(model.workers[0].nthreads).toBe(2);
    expect(model.futures).toHaveLength(0);
    expect(model.stream.lanes.map(l => l.thread)).toEqual([0, 1]);
    expect(model.stream.lanes.every(l => l.tasks.length === 0)).toBe(true);
    expect(model.primitives).toEqual([]); // empty kinds are left out
    expect(changes()).toBeGreaterThanOrEqual(2);
  });

  it('groups running futures by prefix and shows a held lock with its holder', () => {
    const { model } = connectedModel();
    model.handleMessage(recorded('connected'));
    model.handleMessage(recorded('running'));
    const snap = snapshotOf('running');
    expect(model.futures).toHaveLength(snap.nfutures);
    const prefixes = model.groups.map(g => g.prefix);
    expect(prefixes).toEqual(expect.arrayContaining(['slow', 'bad', 'hold']));
    expect(model.futures.some(f => f.status === 'processing')).toBe(true);
    const slow = model.groups.find(g => g.prefix === 'slow')!;
    expect(slow.total).toBe(3);

    const locks = model.primitives.find(k => k.kind === 'lock')!;
    expect(locks.label).toBe('Locks');
    const db = locks.items.find(i => i.name === 'db')!;
    expect(db.state.locked).toBe(true);
    expect(String(db.state.holder)).toMatch(/^Client-/);
    const heldFor = model.elapsed(db.state.held_since);
    expect(heldFor).not.toBeNull();
    expect(heldFor!).toBeGreaterThanOrEqual(0);
    expect(heldFor!).toBeLessThan(5);
  });

  it('counts statuses, filters by status and marks erred tasks in the stream', () => {
    const { model } = connectedModel();
    model.handleMessage(recorded('done'));
    expect(model.statusCounts).toEqual({ finished: 4, error: 1 });
    model.setStatusFilter('error');
    expect(model.filteredFutures).toHaveLength(1);
    expect(model.filteredFutures[0].prefix).toBe('bad');
    expect(model.filteredFutures[0].error).toBe('ValueError: boom 1');
    expect(model.groups.map(g => g.prefix)).toEqual(['bad']);
    // the filter does not change the per-prefix totals
    model.setStatusFilter('all');
    expect(model.groups.find(g => g.prefix === 'slow')!.counts).toEqual({ finished: 3 });
    const stream = model.stream;
    expect(stream.nerred).toBe(1);
    const tasks = stream.lanes.flatMap(l => l.tasks);
    expect(tasks.filter(t => t.prefix === 'slow')).toHaveLength(3);
    expect(tasks.find(t => t.prefix === 'bad')!.state).toBe('erred');
    expect(stream.t0).toBeLessThanOrEqual(Math.min(...tasks.map(t => t.start)));
    expect(stream.t1).toBeGreaterThanOrEqual(Math.max(...tasks.map(t => t.stop)));
    expect(stream.prefixes).toEqual(expect.arrayContaining(['slow', 'bad', 'hold']));
  });

  it('fetches the exception and traceback of a selected future', async () => {
    const { model, comm } = connectedModel();
    model.handleMessage(recorded('done'));
    const bad = model.futures.find(f => f.status === 'error')!;
    const pending = model.select(bad.key);
    expect(model.detail).toEqual({ key: bad.key, loading: true });
    expect(comm.last).toEqual({ type: 'action', id: comm.last.id, action: 'detail', key: bad.key });
    const reply = recorded('detail-reply') as IReplyMessage;
    model.handleMessage({ ...reply, id: comm.last.id });
    await pending;
    expect(model.selectedKey).toBe(bad.key);
    expect(model.detail!.loading).toBe(false);
    expect(model.detail!.error).toBe('ValueError: boom 1');
    expect(model.detail!.traceback).toContain('Traceback (most recent call last)');
    expect(model.detail!.traceback).toContain('in bad');
    // selecting it again closes the detail
    await model.select(bad.key);
    expect(model.detail).toBeNull();
  });

  it('sends cancel and retry and reports a failed action', async () => {
    const { model, comm } = connectedModel();
    model.handleMessage(recorded('running'));
    const running = model.futures.find(f => f.status === 'processing')!;
    const cancelled = model.cancel(running.key);
    expect(comm.last).toMatchObject({ type: 'action', action: 'cancel', key: running.key });
    model.handleMessage({ type: 'reply', id: comm.last.id, ok: true });
    expect((await cancelled).ok).toBe(true);
    expect(model.notice).toBe('');

    const retried = model.retry('missing-0');
    expect(comm.last).toMatchObject({ action: 'retry', key: 'missing-0' });
    const failure = recorded('cancel-error-reply') as IReplyMessage;
    model.handleMessage({ ...failure, id: comm.last.id });
    expect((await retried).ok).toBe(false);
    expect(model.notice).toContain('not held');
    // replies with unknown ids are ignored
    model.handleMessage({ type: 'reply', id: 9999, ok: true });
  });

  it('fails actions when no comm is open, and when the kernel changes', async () => {
    const model = newModel();
    model.setSource('a.ipynb', 'no-client');
    expect((await model.cancel('x')).ok).toBe(false);
    expect(model.notice).toContain('not connected');

    const comm = new FakeComm();
    model.setSender(comm);
    const inflight = model.cancel('x');
    model.setSource('b.ipynb', 'connecting'); // switching notebooks drops the old kernel's requests
    const reply = await inflight;
    expect(reply.ok).toBe(false);
    expect(model.source).toBe('b.ipynb');
  });

  it('goes back to the empty state when the Client closes', () => {
    const { model } = connectedModel();
    model.handleMessage(recorded('done'));
    void model.select(model.futures[0].key);
    model.handleMessage(recorded('closed'));
    expect(model.connection).toBe('no-client');
    expect(model.snapshot).toBeNull();
    expect(model.detail).toBeNull();
    expect(model.futures).toEqual([]);
    expect(model.workers).toEqual([]);
  });

  it('merges singular and plural primitive kinds and keeps unknown kinds generic', () => {
    expect(normalizeKind('locks')).toBe('lock');
    expect(normalizeKind('queues')).toBe('queue');
    expect(normalizeKind('pubsub')).toBe('pubsub');
    expect(normalizeKind('barriers')).toBe('barriers');
    const { model } = connectedModel();
    const snap = snapshotOf('done');
    snap.primitives = {
      locks: { a: { name: 'a', locked: false, holder: null } },
      lock: { a: { name: 'a', locked: true, holder: 'Client-abc' } },
      semaphores: { s: { name: 's', leases: 1, max_leases: 2, holders: [], waiters: [] } },
      barriers: { b: { name: 'b', parties: 3 } },
      queues: {}
    };
    model.handleMessage({ type: 'snapshot', snapshot: snap });
    expect(model.primitives.map(k => k.kind)).toEqual(['lock', 'semaphore', 'barriers']);
    expect(model.primitives[0].items).toEqual([
      { name: 'a', state: { name: 'a', locked: true, holder: 'Client-abc' } }
    ]);
    expect(model.primitives[2].items[0].state.parties).toBe(3);
  });

  it('ignores messages it does not know', () => {
    const { model, changes } = connectedModel();
    const before = changes();
    model.handleMessage({ type: 'something-else' });
    model.handleMessage(null as never);
    expect(changes()).toBe(before);
  });
});
