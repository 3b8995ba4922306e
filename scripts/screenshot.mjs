// Takes the README's editor screenshots: starts Node-RED the way `npm start` does (on a
// throw-away user directory), opens the editor in Debian's Chromium (playwright-core, no
// browser download), and saves docs/editor-journey.png. Needs: apt-get install chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const userDir = mkdtempSync(join(tmpdir(), 'journeys-shot-'));
const port = process.env.PORT ?? '18801';
const red = spawn(process.execPath, [join(root, 'scripts/start.mjs')], {
  env: { ...process.env, JOURNEYS_USER_DIR: userDir, PORT: port },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let log = '';
red.stdout.on('data', (c) => (log += c));
const deadline = Date.now() + 60_000;
while (!log.includes('Started flows')) {
  if (Date.now() > deadline || red.exitCode !== null) throw new Error(`Node-RED did not start:\n${log}`);
  await new Promise((r) => setTimeout(r, 200));
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1680, height: 760 } });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector('#red-ui-workspace-chart .red-ui-flow-node', { timeout: 30_000 });
  // Scroll the palette to the journeys category, as a user would.
  await page.locator('#red-ui-palette-journeys').scrollIntoViewIfNeeded({ timeout: 30_000 });
  await page.waitForTimeout(1000);
  await page.screenshot({ path: join(root, 'docs/editor-journey.png') });
  console.log('saved docs/editor-journey.png');
} finally {
  await browser.close();
  red.kill('SIGTERM');
  rmSync(userDir, { recursive: true, force: true });
}
