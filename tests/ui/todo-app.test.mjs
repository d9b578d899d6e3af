// examples/todo-app embeds <ai-chat> with two lines and hands it the token of its own login; behind
// deploy/Caddyfile (a real caddy) both share one origin. The chat runs as the logged-in user.
// The todo page sends no Content-Security-Policy, so here the sanitiser alone stands between a
// payload and the page.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ALICE, startTodoApp } from '../../examples/todo-app/test/lib/app.mjs';
import { startCaddy } from '../blackbox/lib/caddy.mjs';
import { randomSecret } from '../blackbox/lib/jwt.mjs';
import { launchBrowser, openPage, send, startUiService, streamEnded } from './lib/ui.mjs';

describe('the todo app embeds the chat', { timeout: 120000 }, () => {
  let app;
  let service;
  let caddy;
  let browser;
  before(async () => {
    const secret = randomSecret();
    app = await startTodoApp({ secret });
    service = await startUiService({ secret });
    caddy = await startCaddy({ ai: [`127.0.0.1:${service.svc.port}`], backends: [`127.0.0.1:${app.port}`] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await caddy?.stop();
    await service?.stop();
    await app?.stop();
  });

  it('chats as the user who logged in to the todo app', async () => {
    const page = await openPage(browser, `${caddy.url}/`);
    await page.getByLabel('Username').fill(ALICE.username);
    await page.getByLabel('Password').fill(ALICE.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByLabel('Message', { exact: true }).waitFor();
    await send(page, 'What should I do first today?');
    await streamEnded(page);
    await page.locator('article[aria-label="Assistant"]').getByText('Mock answer to: What should I do first today?').waitFor();
    const mine = await service.svc.get('/api/ai/conversations', { token: service.svc.token(ALICE.id) });
    assert.deepEqual(mine.body.data.items.map((c) => c.title), ['What should I do first today?']);

    await page.evaluate(() => { delete window.__xss; });
    await send(page, '<img src=x onerror="window.__xss=1"> [x](javascript:window.__xss=2) <svg onload="window.__xss=3"></svg>');
    await streamEnded(page);
    await page.locator('article[aria-label="Assistant"]').nth(1).waitFor();
    assert.equal(await page.evaluate(() => window.__xss ?? null), null, 'a payload ran');
    assert.equal(await page.locator('ai-chat img, ai-chat svg').count(), 0);
    assert.deepEqual(page.problems, []);
  });
});
