// What the page does when things go wrong, in Chromium: a 429 counted down from Retry-After, the
// service restarted in the middle of an answer, and no development sign-in with a real secret.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { randomSecret } from '../blackbox/lib/jwt.mjs';
import { devSignIn, freePort, launchBrowser, openPage, send, startUiService, streamEnded } from './lib/ui.mjs';

const TIMEOUT = { timeout: 120000 };

describe('the page under errors', TIMEOUT, () => {
  let browser;
  before(async () => { browser = await launchBrowser(); });
  after(async () => { await browser?.close(); });

  it('counts a 429 down from Retry-After, with Send disabled and the draft kept', async () => {
    const service = await startUiService({ env: { LIMIT_RPM: '1' } });
    try {
      const page = await openPage(browser, `${service.svc.url}/`);
      await devSignIn(page, 'ui-limited');
      await send(page, 'first question');
      await streamEnded(page);
      await send(page, 'second question, refused');
      const notice = page.locator('.notice[data-kind="rate_limited"]');
      await notice.waitFor();
      const seconds = async () => Number(/in (\d+) s/.exec(await notice.textContent())?.[1]);
      const first = await seconds();
      assert.ok(first > 0 && first <= 60, `countdown ${first}`);
      assert.ok(await page.getByRole('button', { name: 'Send' }).isDisabled(), 'Send waits for the countdown');
      assert.equal(await page.getByLabel('Message', { exact: true }).inputValue(), 'second question, refused', 'the draft is kept');
      assert.equal(await page.locator('article[aria-label="You"]').count(), 1, 'the refused question is not shown as sent');
      await page.waitForFunction((n) => {
        const m = /in (\d+) s/.exec(document.querySelector('ai-chat').shadowRoot.querySelector('.notice')?.textContent ?? '');
        return m && Number(m[1]) < n;
      }, first, { timeout: 5000 });
    } finally {
      await service.stop();
    }
  });

  it('recovers when the service restarts in the middle of an answer', async () => {
    const port = await freePort();
    let service = await startUiService({ env: { PORT: String(port) } });
    const { mock, dir } = service;
    try {
      const page = await openPage(browser, `${service.svc.url}/`);
      await devSignIn(page, 'ui-restart');
      await page.getByLabel('Model', { exact: true }).selectOption('slow');
      await send(page, 'A long answer, please');
      await page.waitForFunction(() => (document.querySelector('ai-chat').shadowRoot
        .querySelector('article[aria-label="Answer being written"] .md')?.textContent ?? '').split(' ').length > 5);
      await service.svc.kill();
      await page.locator('.notice[data-kind="offline"]').waitFor();
      await page.locator('article[aria-label="Assistant"]').getByText('interrupted').waitFor();
      assert.match(await page.locator('article[aria-label="Assistant"] .md').textContent(), /^Mock answer to: A long/);
      await page.getByLabel('Message', { exact: true }).fill('typed while the service was down');

      // The same port, database and development secret: the page's token stays valid.
      service = await startUiService({ mock, dir, env: { PORT: String(port) } });
      await page.locator('.notice[data-kind="recovered"]').waitFor({ timeout: 20000 });
      await page.locator('article[aria-label="Assistant"]').getByText('interrupted').waitFor();
      assert.equal(await page.getByLabel('Message', { exact: true }).inputValue(), 'typed while the service was down', 'the draft is kept');
      await page.getByLabel('Model', { exact: true }).selectOption('quick');
      await page.getByLabel('Message', { exact: true }).press('Enter');
      await page.locator('article[aria-label="Assistant"]').last().getByText('Mock answer to: typed while the service was down').waitFor();
      await streamEnded(page);
    } finally {
      await service.svc.stop();
      await mock.stop();
    }
  });

  it('offers no development sign-in when a real secret is configured', async () => {
    const service = await startUiService({ secret: randomSecret() });
    try {
      const page = await openPage(browser, `${service.svc.url}/`);
      await page.getByRole('heading', { name: 'Not signed in' }).waitFor();
      assert.equal(await page.getByLabel('User name').count(), 0);
      const config = await service.svc.get('/api/ai/ui/config');
      assert.equal(config.body.data.devSignIn, false);
      const token = await service.svc.post('/api/ai/dev/token', { json: { user: 'mallory' } });
      assert.equal(token.status, 404);
      assert.equal(token.body.error.code, 'not_found');
    } finally {
      await service.stop();
    }
  });
});
