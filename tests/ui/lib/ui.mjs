// What the chat UI's browser suites share: Debian's Chromium driven by playwright-core (both
// from ui/'s lockfile and scripts/install-deps.sh), the service and tools/mock-llm started by the
// black-box suites' own helpers, and small waits on the component's shadow DOM.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startMockLlm } from '../../blackbox/lib/mock-llm.mjs';
import { makeTempDir, startService } from '../../blackbox/lib/service.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..', '..');
const require = createRequire(path.join(REPO, 'web', 'package.json'));
const { chromium } = require('playwright-core');
export const AXE_SOURCE = require('axe-core').source;

// Where a screenshot of docs/ui.md goes: docs/ui/ with UPDATE_SCREENSHOTS=1 (to refresh the docs),
// else a temporary folder, so that `make test` leaves the work tree as it found it.
export function screenshotPath(name) {
  const dir = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(REPO, 'docs', 'ui') : path.join(os.tmpdir(), 'aas-ui-screenshots');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

// Without these flags Chromium waits on the network of this closed machine (updates, sync,
// QUIC probes) and can hang. Playwright gives every launch a fresh temporary profile.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Two models on one mock-llm: `quick` streams the natural answer ("Mock answer to: <question>")
// at 25 words a second, `slow` drips a 300-word answer at 8 a second (stop, restart).
export const uiModels = (url) => `models:
  - name: quick
    deployments:
      - provider: openai
        model: gpt-4o-mini
        base_url: "${url}/v1"
        api_key: sk-test
        headers: {x-mock-tokens-per-second: "25"}
  - name: slow
    deployments:
      - provider: openai
        model: gpt-4o-mini
        base_url: "${url}/v1"
        api_key: sk-test
        headers: {x-mock-tokens-per-second: "8", x-mock-answer-tokens: "300"}
`;

// The service on mock-llm, on its development secret (JWT_SECRET unset: the page offers the
// development sign-in) unless `secret` is given. `dir` and `env.PORT` allow a restart in place;
// `config` is more YAML for AI_CONFIG (the todo app's tools, say).
export async function startUiService({ env = {}, dir, secret, mock, config = '' } = {}) {
  const ownMock = !mock;
  mock ??= await startMockLlm();
  dir ??= makeTempDir();
  const file = path.join(dir, 'models.yaml');
  writeFileSync(file, `${uiModels(mock.url)}\n${config}`);
  try {
    const svc = await startService({ dir, secret, env: { AI_CONFIG: file, DEFAULT_MODEL: 'quick', JWT_SECRET: secret ?? '', ...env } });
    return { svc, mock, dir, stop: async () => { await svc.stop(); if (ownMock) await mock.stop(); } };
  } catch (e) {
    if (ownMock) await mock.stop();
    throw e;
  }
}

// A page whose console errors and CSP violations are collected (a test asserts on them).
export async function openPage(browser, url, { viewport = { width: 1280, height: 800 }, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  // Failed loads are reported with their address (the console message has none); a host page
  // without a favicon is not the component's problem.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) page.problems.push(`console: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) page.problems.push(`${r.status()} ${r.url()}`); });
  await page.goto(url);
  return page;
}

// Signs in with the development sign-in and waits for the chat.
export async function devSignIn(page, user) {
  await page.getByLabel('User name').fill(user);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Message', { exact: true }).waitFor();
}

export async function send(page, text) {
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
}

// The text of the answer being streamed ('' when none is).
export const streamingText = (page) => page.evaluate(() =>
  document.querySelector('ai-chat').shadowRoot.querySelector('article[aria-label="Answer being written"] .md')?.textContent ?? '');

// Resolves when no answer is streaming any more.
export const streamEnded = (page) => page.waitForFunction(() =>
  !document.querySelector('ai-chat').shadowRoot.querySelector('article[aria-label="Answer being written"]'), null, { timeout: 30000 });

// Runs axe-core in the page (evaluated, not injected as a script tag, which the page's CSP
// forbids) and returns the serious and critical violations.
export async function seriousViolations(page) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
