// The chat page in Chromium against the real service and tools/mock-llm: first visit, development
// sign-in, an answer streamed word by word, the sidebar (title, rename, pin, tags, archive, search,
// delete), stop, regenerate and versions, XSS payloads, accessibility (axe-core), and the
// screenshots of docs/ui.md.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  devSignIn, launchBrowser, openPage, screenshotPath, send, seriousViolations, startUiService, streamEnded, streamingText,
} from './lib/ui.mjs';

const TIMEOUT = { timeout: 240000 };
const chat = (page) => page.locator('ai-chat');
const sidebarItem = (page, title) => page.locator('nav li').filter({ hasText: title });

describe('the chat page', TIMEOUT, () => {
  let service;
  let browser;
  let page;
  before(async () => {
    service = await startUiService();
    browser = await launchBrowser();
    page = await openPage(browser, `${service.svc.url}/`);
  });
  after(async () => {
    await browser?.close();
    await service?.stop();
  });

  it('offers the development sign-in on the first visit, then an empty chat', async () => {
    await page.getByRole('heading', { name: 'Development sign-in' }).waitFor();
    await devSignIn(page, 'ui-alice');
    await page.getByText('No conversations yet.').waitFor();
    await page.getByText('Ask anything.').waitFor();
  });

  it('streams the answer word by word, then lists the new conversation under its title', async () => {
    const question = 'Please describe the harbour of Marseille at dawn in a few careful words';
    await send(page, question);
    // Partial text must be seen in the DOM before the answer is complete.
    const partial = await page.waitForFunction(() => {
      const md = document.querySelector('ai-chat').shadowRoot.querySelector('article[aria-label="Answer being written"] .md');
      const t = md?.textContent ?? '';
      return t.startsWith('Mock answer') && !t.includes('careful words') ? t : false;
    }, null, { polling: 20 });
    assert.match(await partial.jsonValue(), /^Mock answer/);
    await streamEnded(page);
    const answer = page.locator('article[aria-label="Assistant"]').last();
    await assert.doesNotReject(answer.getByText(`Mock answer to: ${question}`).waitFor());
    await sidebarItem(page, 'Please describe the harbour').waitFor();
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), question);
    assert.equal(await page.getByLabel('Message', { exact: true }).inputValue(), '', 'the draft is cleared once sent');
    // Stored for this user: the service lists it.
    const token = await page.evaluate(() => sessionStorage.getItem('ai-chat.dev-token'));
    const list = await service.svc.get('/api/ai/conversations', { token });
    assert.equal(list.body.data.items[0].title, question);
  });

  it('renames, pins, tags, archives, searches and deletes conversations', async () => {
    await page.getByLabel('New conversation').or(page.getByRole('button', { name: 'New conversation' })).click();
    await send(page, 'Second conversation about gardening tomatoes');
    await streamEnded(page);
    await sidebarItem(page, 'Second conversation').waitFor();

    // Rename.
    await page.getByRole('button', { name: 'Actions for Second conversation about gardening tomatoes' }).click();
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New title').fill('Tomato notes');
    await page.getByLabel('New title').press('Enter');
    await sidebarItem(page, 'Tomato notes').waitFor();

    // Pin: pinned conversations come first, marked.
    await page.getByRole('button', { name: 'Actions for Please describe' }).click();
    await page.getByRole('button', { name: 'Pin', exact: true }).click();
    await page.locator('nav li').first().filter({ hasText: 'pinned:' }).waitFor();
    assert.match(await page.locator('nav li').first().textContent(), /Please describe/);

    // Tags.
    await page.getByRole('button', { name: 'Actions for Tomato notes' }).click();
    await page.getByRole('button', { name: 'Tags' }).click();
    await page.getByLabel('Tags, separated by commas').fill('garden, food');
    await page.getByLabel('Tags, separated by commas').press('Enter');
    await sidebarItem(page, '#food #garden').waitFor();

    // Search (the service's full-text search over titles and messages).
    await page.getByLabel('Search conversations').fill('marseille');
    await page.waitForFunction(() => document.querySelector('ai-chat').shadowRoot.querySelectorAll('nav li[data-id]').length === 1);
    await sidebarItem(page, 'Please describe').waitFor();
    await page.getByLabel('Search conversations').fill('');
    await sidebarItem(page, 'Tomato notes').waitFor();

    // Archive: hidden from the list, shown with "Show archived".
    await page.getByRole('button', { name: 'Actions for Tomato notes' }).click();
    await page.getByRole('button', { name: 'Archive' }).click();
    await sidebarItem(page, 'Tomato notes').waitFor({ state: 'detached' });
    await page.getByLabel('Show archived').check();
    await sidebarItem(page, 'Tomato notes').waitFor();

    // Delete, after a confirmation.
    await page.getByRole('button', { name: 'Actions for Tomato notes' }).click();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No conversations yet.').waitFor();
    await page.getByLabel('Show archived').uncheck();
    await sidebarItem(page, 'Please describe').waitFor();
    const token = await page.evaluate(() => sessionStorage.getItem('ai-chat.dev-token'));
    const all = await service.svc.get('/api/ai/conversations?archived=all', { token });
    assert.deepEqual(all.body.data.items.map((c) => c.title), ['Please describe the harbour of Marseille at dawn in a few careful words']);
  });

  it('stops an answer mid-stream with Esc and keeps what was said', async () => {
    await page.getByRole('button', { name: 'New conversation' }).click();
    await page.getByLabel('Model', { exact: true }).selectOption('slow');
    await send(page, 'Tell me a very long story');
    await page.waitForFunction(() => (document.querySelector('ai-chat').shadowRoot
      .querySelector('article[aria-label="Answer being written"] .md')?.textContent ?? '').split(' ').length > 6);
    await page.keyboard.press('Escape');
    await streamEnded(page);
    const answer = page.locator('article[aria-label="Assistant"]').last();
    await answer.getByText('stopped').waitFor();
    const kept = await answer.locator('.md').textContent();
    assert.match(kept, /^Mock answer to: Tell/);
    assert.ok(kept.split(' ').length < 300, 'the answer ended early');
    // The partial answer is what the service stored, interrupted.
    const token = await page.evaluate(() => sessionStorage.getItem('ai-chat.dev-token'));
    const id = await page.evaluate(() => document.querySelector('ai-chat')._current.id);
    const stored = (await service.svc.get(`/api/ai/conversations/${id}`, { token })).body.data.messages.items.at(-1);
    assert.equal(stored.status, 'interrupted');
    assert.equal(stored.content.trim(), kept.trim());
  });

  it('regenerates an answer and switches between its versions', async () => {
    await page.getByRole('button', { name: 'New conversation' }).click();
    await page.getByLabel('Model', { exact: true }).selectOption('quick');
    await send(page, 'First try at an answer');
    await streamEnded(page);
    await page.getByRole('button', { name: 'Regenerate' }).click();
    await streamEnded(page);
    const answer = page.locator('article[aria-label="Assistant"]').last();
    await answer.getByText('2/2').waitFor();
    await answer.getByRole('button', { name: 'Previous version' }).click();
    await answer.getByText('1/2').waitFor();
    await answer.getByRole('button', { name: 'Next version' }).click();
    await answer.getByText('2/2').waitFor();
    // Edit the question: a new branch, answered.
    await page.getByRole('button', { name: 'Edit this message' }).click();
    await page.getByLabel('Edit your message').fill('Second try, edited');
    await page.getByRole('button', { name: 'Send edit' }).click();
    await streamEnded(page);
    await page.locator('article[aria-label="Assistant"]').last().getByText('Mock answer to: Second try, edited').waitFor();
    await page.locator('article[aria-label="You"]').last().getByText('2/2').waitFor();
  });

  it('never runs markup from messages, answers streamed in chunks, or titles', async () => {
    await page.getByRole('button', { name: 'New conversation' }).click();
    const payloads = [
      '<img src=x onerror="window.__xss=1"> <b onmouseover="window.__xss=2">bold</b>',
      '[click me](javascript:window.__xss=3) <a href="javascript:window.__xss=4">link</a>',
      '<svg onload="window.__xss=5"></svg> <iframe src="javascript:window.__xss=6"></iframe> <script>window.__xss=7</script>',
    ].join(' ');
    await send(page, payloads);
    await streamEnded(page);
    await page.getByRole('button', { name: 'Actions for <img src=x' }).click();
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New title').fill('<img src=y onerror="window.__xss=8">Evil title');
    await page.getByLabel('New title').press('Enter');
    await sidebarItem(page, 'Evil title').waitFor();
    await page.locator('nav li').filter({ hasText: 'Evil title' }).getByRole('button').first().hover();
    await page.locator('b').filter({ hasText: 'bold' }).first().hover();
    const found = await page.evaluate(() => {
      const root = document.querySelector('ai-chat').shadowRoot;
      const all = [...root.querySelectorAll('*')];
      return {
        flag: window.__xss ?? null,
        dangerous: all.filter((el) => ['IMG', 'SVG', 'IFRAME', 'SCRIPT'].includes(el.tagName.toUpperCase())).map((el) => el.tagName),
        handlers: all.flatMap((el) => [...el.attributes].filter((a) => a.name.startsWith('on')).map((a) => `${el.tagName}.${a.name}`)),
        jsLinks: all.filter((el) => /^\s*javascript:/i.test(el.getAttribute('href') ?? '')).length,
        links: [...root.querySelectorAll('.md a')].map((a) => a.getAttribute('rel')),
        title: root.querySelector('h1').textContent,
      };
    });
    assert.equal(found.flag, null, 'a payload ran');
    assert.deepEqual(found.dangerous, []);
    assert.deepEqual(found.handlers, []);
    assert.equal(found.jsLinks, 0);
    assert.ok(found.links.length > 0 && found.links.every((rel) => rel.includes('noopener')), JSON.stringify(found.links));
    assert.equal(found.title, '<img src=y onerror="window.__xss=8">Evil title', 'a title is shown as text');
    // (Chromium reports a CSP violation for every handler attribute it parses, even in the
    // sanitiser's inert document, so those reports are no signal; the DOM checks above are.)
    assert.deepEqual(page.problems.filter((p) => !p.includes('Content Security Policy')), []);
  });

  it('has no serious or critical accessibility violations (axe-core)', async () => {
    assert.deepEqual(await seriousViolations(page), []);
    const narrow = await openPage(browser, `${service.svc.url}/`, { viewport: { width: 360, height: 740 }, colorScheme: 'dark' });
    await devSignIn(narrow, 'ui-alice');
    assert.deepEqual(await seriousViolations(narrow), []);
    await narrow.getByRole('button', { name: 'Conversations' }).click();
    await narrow.getByRole('button', { name: 'New conversation' }).waitFor();
    assert.deepEqual(await seriousViolations(narrow), []);
    await narrow.context().close();
    const fresh = await openPage(browser, `${service.svc.url}/`);
    await fresh.getByRole('heading', { name: 'Development sign-in' }).waitFor();
    assert.deepEqual(await seriousViolations(fresh), []);
    await fresh.context().close();
  });

  it('shows code and numbered sources, in the screenshots of docs/ui.md', async () => {
    const token = await page.evaluate(() => sessionStorage.getItem('ai-chat.dev-token'));
    const answer = [
      'Here is a **debounce** helper, as asked:', '',
      '```js', 'export function debounce(fn, ms) {', '  let timer;',
      '  return (...args) => {', '    clearTimeout(timer);', '    timer = setTimeout(() => fn(...args), ms); // last call wins',
      '  };', '}', '```', '',
      'Call it with the handler and a delay in milliseconds [1].',
    ].join('\n');
    const imported = await service.svc.post('/api/ai/conversations/import', {
      token,
      json: { conversation: { title: 'Debounce in JavaScript' }, messages: [
        { role: 'user', content: 'How do I debounce an input handler?' },
        { role: 'assistant', content: answer, status: 'complete' },
      ] },
    });
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    const id = imported.body.data.id;
    // Knowledge bases (issue 12) do not exist yet, so no stored answer has sources: this response
    // is given one here to show how they look.
    const withSources = async (p) => p.route(`**/api/ai/conversations/${id}?*`, async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      body.data.messages.items.at(-1).citations = [
        { title: 'utils/timing.md', text: 'debounce(fn, ms) delays fn until ms have passed without another call.' },
        { title: 'MDN: setTimeout()', text: 'The global setTimeout() method sets a timer which executes a function once the timer expires.' },
      ];
      await route.fulfill({ response: res, json: body });
    });
    for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['mobile', { width: 360, height: 740 }]]) {
      for (const colorScheme of ['light', 'dark']) {
        const p = await openPage(browser, `${service.svc.url}/`, { viewport, colorScheme });
        await withSources(p);
        await devSignIn(p, 'ui-alice');
        if (name === 'mobile') await p.getByRole('button', { name: 'Conversations' }).click();
        await p.locator('nav li').filter({ hasText: 'Debounce in JavaScript' }).locator('button.open').click();
        await p.getByRole('button', { name: 'Copy js code' }).waitFor();
        const sources = p.getByRole('list', { name: 'Sources' });
        await sources.getByText('utils/timing.md').click();
        await sources.getByText('delays fn until').waitFor();
        assert.ok(await p.locator('.hljs-keyword').count() > 0, 'the code is highlighted');
        await p.screenshot({ path: screenshotPath(`chat-${name}-${colorScheme}.png`) });
        await p.context().close();
      }
    }
  });
});
