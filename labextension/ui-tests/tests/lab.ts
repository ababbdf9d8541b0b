/**
 * Helpers driving JupyterLab through `window.jupyterapp` (the server runs with
 * --LabApp.expose_app_in_browser=True) and the DOM, the way a user would:
 * cells are typed into notebooks and run with the notebook's own commands.
 */
import { expect, Page, TestInfo } from '@playwright/test';
import { join } from 'path';

export const TOKEN = process.env.FUTURELAB_UI_TOKEN || 'futurelab-ui';
export const SIDEBAR = '#futurelab-sidebar';

/** Open JupyterLab with a clean workspace and wait for the splash to go. */
export async function openLab(page: Page): Promise<void> {
  await page.goto(`/lab?token=${TOKEN}&reset`);
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached', timeout: 60_000 });
  await page.waitForFunction(() => !!(window as any).jupyterapp?.shell);
  await page.evaluate(async () => {
    const app = (window as any).jupyterapp;
    await app.restored;
    while (!app.commands.hasCommand('notebook:create-new')) {
      await new Promise(r => setTimeout(r, 100));
    }
  });
}

/** Create a new notebook with a python3 kernel; resolves once the kernel is idle. */
export async function newNotebook(page: Page): Promise<string> {
  const path: string = await page.evaluate(async () => {
    const app = (window as any).jupyterapp;
    const panel = await app.commands.execute('notebook:create-new', { kernelName: 'python3' });
    await panel.context.ready;
    return panel.context.path;
  });
  await waitKernelIdle(page);
  return path;
}

/** Make the notebook at `path` the current widget. */
export async function activate(page: Page, path: string): Promise<void> {
  await page.evaluate(p => {
    const app = (window as any).jupyterapp;
    for (const w of app.shell.widgets('main')) {
      if (w.context?.path === p) {
        app.shell.activateById(w.id);
      }
    }
  }, path);
}

export async function waitKernelIdle(page: Page, timeout = 60_000): Promise<void> {
  await page.waitForFunction(
    () => {
      const w = (window as any).jupyterapp.shell.currentWidget;
      return w?.sessionContext?.session?.kernel?.status === 'idle';
    },
    undefined,
    { timeout }
  );
}

/**
 * Append a code cell to the current notebook and start running it. Does not
 * wait for it to finish (the command's promise resolves only then:
 * toolchain.md pitfall 3). Returns the cell's index.
 */
export async function runCell(page: Page, code: string): Promise<number> {
  return page.evaluate(source => {
    const app = (window as any).jupyterapp;
    const panel = app.shell.currentWidget;
    const notebook = panel.content;
    const shared = panel.context.model.sharedModel;
    // reuse the new notebook's first empty cell
    let index = shared.cells.length;
    if (index === 1 && shared.cells[0].getSource() === '' && notebook.widgets[0].model.executionCount === null) {
      index = 0;
      shared.cells[0].setSource(source);
    } else {
      shared.insertCell(index, { cell_type: 'code', source });
    }
    notebook.deselectAll();
    notebook.activeCellIndex = index;
    void app.commands.execute('notebook:run-cell');
    return index;
  }, code);
}

/** Wait until cell `index` of the current notebook has finished; returns its outputs' text. */
export async function cellDone(page: Page, index: number, timeout = 60_000): Promise<string> {
  await page.waitForFunction(
    i => {
      const panel = (window as any).jupyterapp.shell.currentWidget;
      const cell = panel.content.widgets[i];
      return cell && cell.model.executionCount !== null && !cell.node.querySelector('.jp-InputPrompt')?.textContent?.includes('*');
    },
    index,
    { timeout }
  );
  return cellText(page, index);
}

/** Text of cell `index`'s outputs (streams, results, errors). */
export async function cellText(page: Page, index: number): Promise<string> {
  return page.evaluate(i => {
    const panel = (window as any).jupyterapp.shell.currentWidget;
    const outputs = panel.content.widgets[i].model.outputs.toJSON();
    return outputs
      .map((o: any) => {
        if (o.output_type === 'stream') {
          return Array.isArray(o.text) ? o.text.join('') : o.text;
        }
        if (o.output_type === 'error') {
          return `${o.ename}: ${o.evalue}`;
        }
        const text = o.data?.['text/plain'];
        return Array.isArray(text) ? text.join('') : text ?? '';
      })
      .join('\n');
  }, index);
}

/** Run a cell and wait for it; fails the test if it raised. */
export async function run(page: Page, code: string, timeout = 60_000): Promise<string> {
  const index = await runCell(page, code);
  const text = await cellDone(page, index, timeout);
  const errored = await page.evaluate(
    i => (window as any).jupyterapp.shell.currentWidget.content.widgets[i].model.outputs
      .toJSON()
      .some((o: any) => o.output_type === 'error'),
    index
  );
  expect(errored, `cell raised:\n${code}\n---\n${text}`).toBe(false);
  return text;
}

/** Open the futurelab sidebar (its tab carries the panel id). */
export async function openSidebar(page: Page): Promise<void> {
  await page.click('.jp-SideBar.jp-mod-left [data-id="futurelab-sidebar"]');
  await expect(page.locator(SIDEBAR)).toBeVisible();
}

/** Screenshot of the whole lab into test-results/screenshots/<name>.png. */
export async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = join(__dirname, '..', 'test-results', 'screenshots', `${name}.png`);
  await page.screenshot({ path });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}
