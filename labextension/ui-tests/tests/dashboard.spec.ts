/**
 * The scheduler's web dashboard in a real browser (no JupyterLab involved):
 * start_dashboard.py runs a LocalCluster(processes=False) with its dashboard on
 * a free loopback port and takes commands on stdin; the page must show the
 * cluster, tasks streaming in live, a Lock's holder, an actor, and cancel a task; the
 * JSON API must answer.
 */
import { expect, Page, test } from '@playwright/test';
import { ChildProcessWithoutNullStreams, spawn } from 'child_process';
import { existsSync } from 'fs';
import { join, resolve } from 'path';
import { createInterface } from 'readline';

test.describe.configure({ mode: 'serial' });

const REPO = resolve(__dirname, '..', '..', '..');
const PYTHON =
  process.env.FUTURELAB_PYTHON ??
  (existsSync(join(REPO, '.venv', 'bin', 'python')) ? join(REPO, '.venv', 'bin', 'python') : 'python3');

let proc: ChildProcessWithoutNullStreams;
let url = '';
let clientId = '';
let page: Page;
const inbox: any[] = [];
const waiters: Array<() => void> = [];

/** The next message of the cluster script satisfying `pred` (messages are consumed). */
async function next(pred: (m: any) => boolean = () => true, timeout = 30_000): Promise<any> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const at = inbox.findIndex(pred);
    if (at >= 0) {
      return inbox.splice(at, 1)[0];
    }
    if (Date.now() > deadline) {
      throw new Error(`no message from start_dashboard.py within ${timeout} ms`);
    }
    await new Promise<void>(r => {
      waiters.push(r);
      setTimeout(r, 200);
    });
  }
}

async function command(cmd: string): Promise<any> {
  proc.stdin.write(`${cmd}\n`);
  return next(m => m.ok === cmd.split(' ')[0]);
}

async function shot(name: string): Promise<void> {
  const path = join(__dirname, '..', 'test-results', 'screenshots', `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await test.info().attach(name, { path, contentType: 'image/png' });
}

test.beforeAll(async ({ browser }) => {
  proc = spawn(PYTHON, [join(__dirname, '..', 'start_dashboard.py')], { cwd: REPO });
  createInterface({ input: proc.stdout }).on('line', line => {
    try {
      inbox.push(JSON.parse(line));
    } catch {
      return; // not ours
    }
    waiters.splice(0).forEach(w => w());
  });
  let stderr = '';
  proc.stderr.on('data', d => (stderr += d));
  const hello = await next(m => 'url' in m, 30_000).catch(e => {
    throw new Error(`${e.message}\n${stderr}`);
  });
  url = hello.url;
  clientId = hello.client;
  page = await browser.newPage();
});

test.afterAll(async () => {
  await page?.close();
  if (proc && proc.exitCode === null) {
    proc.stdin.write('quit\n');
    await new Promise(r => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        r(null);
      }, 5000);
      proc.on('exit', () => {
        clearTimeout(timer);
        r(null);
      });
    });
  }
});

test('the dashboard shows tasks streaming in live and a lock holder', async () => {
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/status$/);
  await page.goto(url);
  await expect(page.locator('.fl-Header-link')).toHaveAttribute('data-state', 'open');
  await expect(page.locator('#fl-workers .jp-FuturelabWorkers tbody tr')).toHaveCount(1);
  await expect(page.locator('#fl-workers .jp-FuturelabWorkers tbody tr td').nth(1)).toHaveText('2');
  await expect(page.locator('#fl-tasks .jp-FuturelabSection-empty')).toContainText('No tasks');
  await shot('dashboard-01-idle');

  // 10 tasks of 1 s on 2 threads: 5 rounds; the page must follow them as they go
  await command('run 10 1.0');
  const counts = page.locator('#fl-progress tr[data-prefix="slow"] .jp-FuturelabProgress-counts');
  await expect(counts).toHaveAttribute('data-total', '10');
  // the scheduler may assign a worker more tasks than threads: some are processing
  await expect(page.locator('#fl-tasks tr.jp-FuturelabFuture[data-status="processing"]').first()).toBeVisible();
  const seen = new Set<string>();
  let shown = false;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const done = (await counts.getAttribute('data-done')) ?? '';
    seen.add(done);
    if (done === '10') {
      break;
    }
    if (!shown && done !== '0') {
      await shot('dashboard-02-running');
      shown = true;
    }
    await page.waitForTimeout(100);
  }
  expect(seen.has('10')).toBe(true);
  // intermediate states were shown, not only the start and the end
  expect([...seen].filter(d => d !== '0' && d !== '10').length).toBeGreaterThanOrEqual(2);
  await expect(page.locator('#fl-stream rect.jp-FuturelabStream-task[data-prefix="slow"]')).toHaveCount(10);
  await expect(page.locator('#fl-tasks tr.jp-FuturelabFuture[data-status="finished"]')).toHaveCount(10);

  // a lock taken by the script's Client shows with its holder
  await command('lock');
  const row = page.locator('#fl-primitives .jp-FuturelabPrimitives[data-kind="lock"] tr[data-name="db"]');
  await expect(row.locator('td[data-field="state"]')).toHaveText('held');
  await expect(row.locator('td[data-field="holder"]')).toHaveText(clientId.slice(0, 'Client-'.length + 6));
  await command('actor');
  await expect(page.locator('#fl-actors .jp-FuturelabActors tbody tr')).toHaveCount(1);
  await expect(page.locator('#fl-actors .jp-FuturelabActors tbody tr td').nth(1)).toHaveText('Counter');
  await command('fail');
  await expect(page.locator('#fl-tasks tr.jp-FuturelabFuture[data-status="error"]')).toHaveCount(1);
  await expect(page.locator('#fl-stream rect.jp-FuturelabStream-task.jp-mod-erred')).toHaveCount(1);
  await shot('dashboard-03-done-lock-held');

  await command('unlock');
  await expect(row.locator('td[data-field="state"]')).toHaveCount(0);
});

test('cancel a running task from the page', async () => {
  const blocked = await command('block');
  const taskRow = page.locator(`#fl-tasks tr.jp-FuturelabFuture[data-key="${blocked.key}"]`);
  await expect(taskRow).toHaveAttribute('data-status', 'processing');
  await taskRow.locator('button.jp-mod-cancel').click();
  const answer = await next(m => 'cancelled' in m, 20_000);
  expect(answer.cancelled).toBe(true);
  await expect(taskRow).toHaveCount(0); // nobody holds it any more: the scheduler forgot it
  await shot('dashboard-04-cancelled');
});

test('the JSON API answers', async () => {
  const api = (path: string) => url.replace(/\/status$/, path);
  const snap = await (await page.request.get(api('/api/v1/snapshot'))).json();
  expect(snap.progress.slow).toMatchObject({ done: 10, total: 10 });
  expect(Object.keys(snap.workers)).toHaveLength(1);
  expect(snap.stream.length).toBeGreaterThanOrEqual(10);
  await command('lock');
  const prims = await (await page.request.get(api('/api/v1/primitives'))).json();
  expect(prims.locks.db.holder).toBe(clientId);
  const tasks = await (await page.request.get(api('/api/v1/tasks?state=finished&prefix=slow'))).json();
  expect(tasks).toHaveLength(10);
  const workers = await (await page.request.get(api('/api/v1/workers'))).json();
  expect(Object.values(workers)[0]).toMatchObject({ nthreads: 2 });
  await command('unlock');
});
