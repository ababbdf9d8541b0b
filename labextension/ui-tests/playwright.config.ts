/**
 * Browser tests of the futurelab sidebar: @playwright/test driving Debian's Chromium
 * (/usr/bin/chromium, or $CHROMIUM_PATH) against a real JupyterLab started by start_lab.sh.
 * Playwright downloads no browser; video is off (it would need Playwright's own ffmpeg).
 */
import { defineConfig } from '@playwright/test';

const PORT = Number(process.env.FUTURELAB_UI_PORT || 8899);
const TOKEN = process.env.FUTURELAB_UI_TOKEN || 'futurelab-ui';

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 90_000,
  expect: { timeout: 20_000 },
  workers: 1,
  retries: 0,
  fullyParallel: false,
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    viewport: { width: 1400, height: 900 },
    video: 'off',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
  webServer: {
    command: `./start_lab.sh ${PORT} ${TOKEN}`,
    url: `http://127.0.0.1:${PORT}/lab?token=${TOKEN}`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: 'pipe' // start_lab.sh logs the server to .cache/jupyter-lab.log
  }
});
