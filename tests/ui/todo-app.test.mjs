// examples/todo-app embeds <ai-chat> with two lines and hands it the token of its own login; behind
// deploy/Caddyfile (a real caddy) both share one origin. The chat runs as the logged-in user.
// The todo page sends no Content-Security-Policy, so here the sanitiser alone stands between a
// payload and the page.
// The service runs the agent with the todo app's own tools (examples/todo-app/ai-tools.yaml, which
// makes delete_todo ask for approval) and mock-llm's rule ("call <tool> {json}"): the page shows
// each tool call collapsed, approves and rejects a delete with its buttons (over Socket.IO and over
// SSE), and answers from a knowledge base picked in it, its [n] linked to the source.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ALICE, login, startTodoApp } from '../../examples/todo-app/test/lib/app.mjs';
import { startCaddy } from '../blackbox/lib/caddy.mjs';
import { client } from '../blackbox/lib/http.mjs';
import { randomSecret } from '../blackbox/lib/jwt.mjs';
import { waitFor } from '../blackbox/lib/sse.mjs';
import { launchBrowser, openPage, REPO, screenshotPath, send, startUiService, streamEnded } from './lib/ui.mjs';

const TODO_TOOLS = readFileSync(path.join(REPO, 'examples', 'todo-app', 'ai-tools.yaml'), 'utf8');
const chat = (page) => page.locator('ai-chat');

describe('the todo app embeds the chat', { timeout: 120000 }, () => {
  let app;
  let service;
  let caddy;
  let browser;
  let via;  // requests through Caddy, as the page makes them
  let alice;  // alice's token from the todo app's own login
  let kb;
  before(async () => {
    const secret = randomSecret();
    app = await startTodoApp({ secret });
    service = await startUiService({ secret, config: TODO_TOOLS, env: { MAIN_BACKEND_URL: app.url } });
    caddy = await startCaddy({ ai: [`127.0.0.1:${service.svc.port}`], backends: [`127.0.0.1:${app.port}`] });
    browser = await launchBrowser();
    via = client(caddy.url);
    alice = await login(via, ALICE);
    // A knowledge base of alice's with one document, there before the page lists her bases.
    kb = (await via.post('/api/ai/knowledge', { token: alice, json: { name: 'Geology' } })).body.data;
    const doc = (await via.post(`/api/ai/knowledge/${kb.id}/documents`, { token: alice,
      json: { title: 'Volcanoes', text: 'Volcanoes erupt molten lava and ash when pressure builds below.' } })).body.data.documents[0];
    await waitFor(async () => {
      const d = (await via.get(`/api/ai/knowledge/${kb.id}/documents/${doc.id}`, { token: alice })).body.data;
      return d.status === 'indexed' ? d : undefined;
    }, 30000, 'the document to be indexed');
  });

  async function logIn() {
    const page = await openPage(browser, `${caddy.url}/`);
    await page.getByLabel('Username').fill(ALICE.username);
    await page.getByLabel('Password').fill(ALICE.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByLabel('Message', { exact: true }).waitFor();
    return page;
  }

  const todosOfAlice = async () => (await via.get('/api/todos', { token: alice })).body.items;
  async function newTodo(title) {
    const res = await via.post('/api/todos', { token: alice, json: { title } });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  // Asks the agent to delete a todo and answers the approval with the button named `decision`.
  async function deleteThroughChat(page, todo, decision) {
    await send(page, `call delete_todo {"id": "${todo.id}"}`);
    const approval = chat(page).getByRole('group', { name: 'Approval for delete_todo' });
    await approval.getByRole('button', { name: 'Approve' }).waitFor();
    // Asked, not yet done: the call is shown open with its arguments while it waits.
    assert.ok((await todosOfAlice()).some((t) => t.id === todo.id), 'not deleted before the decision');
    const writing = chat(page).locator('article[aria-label="Answer being written"]');
    assert.match(await writing.locator('li.tool summary').textContent(), /delete_todo\s+waiting for your approval/);
    assert.ok((await writing.locator('li.tool pre.tool-data').first().textContent()).includes(todo.id));
    // docs/ui.md shows the approval as it waits.
    if (decision === 'Approve') await chat(page).screenshot({ path: screenshotPath('agent-approval.png') });
    await approval.getByRole('button', { name: decision }).click();
    await streamEnded(page);
  }
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

  it('shows tool calls collapsed; a delete runs after Approve (Socket.IO) and not after Reject (SSE)', async () => {
    const page = await logIn();
    const keep = await newTodo('keep me (ui)');
    const drop = await newTodo('delete me (ui)');

    await deleteThroughChat(page, drop, 'Approve');
    assert.ok(!(await todosOfAlice()).some((t) => t.id === drop.id), 'deleted after the approval');
    // The stored conversation shows the step: the call, collapsed, done, and the answer after it.
    const answered = chat(page).locator('article[aria-label="Assistant"]').last();
    await answered.getByText('Mock answer with tool result:').waitFor();
    // Regenerate is offered on stored answers only: the conversation is read back from the service.
    await answered.getByRole('button', { name: 'Regenerate' }).waitFor();
    const step = chat(page).locator('li.tool[data-call]').last();
    assert.match(await step.locator('summary').textContent(), /delete_todo\s+done/);
    assert.equal(await step.locator('details').evaluate((d) => d.open), false, 'collapsed once decided');
    await step.locator('summary').click();
    assert.ok((await step.locator('pre.tool-data').first().textContent()).includes(drop.id));

    // The same over SSE, rejected: nothing is deleted and the page says so.
    await chat(page).evaluate((el) => { el.transport = 'sse'; });
    await deleteThroughChat(page, keep, 'Reject');
    await chat(page).locator('article[aria-label="Assistant"]').last().getByRole('button', { name: 'Regenerate' }).waitFor();
    assert.ok((await todosOfAlice()).some((t) => t.id === keep.id), 'still there after the rejection');
    const rejected = chat(page).locator('li.tool[data-call]').last();
    assert.match(await rejected.locator('summary').textContent(), /delete_todo\s+rejected/);
    assert.equal(await rejected.getByRole('status').textContent(), 'Rejected: the call was not made.');
    await chat(page).locator('article[aria-label="Assistant"]').last()
      .getByText('Mock answer with tool result: Error: the user rejected this call: it was not made').waitFor();
    assert.deepEqual(page.problems, []);
  });

  it('after a reload during a pending approval, the conversation shows the call with working Approve / Reject buttons', async () => {
    const drop = await newTodo('delete after a reload (ui)');
    let page = await logIn();
    await chat(page).evaluate((el) => { el.transport = 'sse'; });
    await send(page, `call delete_todo {"id": "${drop.id}"}`);
    await chat(page).getByRole('group', { name: 'Approval for delete_todo' }).getByRole('button', { name: 'Approve' }).waitFor();
    // The page goes away mid-wait (a reload); the turn keeps waiting in the service.
    await page.close();
    page = await logIn();
    await page.locator('nav li').filter({ hasText: drop.id }).locator('button.open').click();
    const approval = chat(page).getByRole('group', { name: 'Approval for delete_todo' });
    await approval.getByRole('button', { name: 'Approve' }).waitFor();
    await approval.getByRole('button', { name: 'Reject' }).waitFor();
    const step = chat(page).locator('li.tool[data-call]').last();
    assert.match(await step.locator('summary').textContent(), /delete_todo\s+waiting for your approval \(\d+ s left\)/);
    assert.ok((await todosOfAlice()).some((t) => t.id === drop.id), 'not deleted before the decision');
    await approval.getByRole('button', { name: 'Approve' }).click();
    // No stream follows the turn on this page: the conversation is read again until it ends.
    await chat(page).locator('article[aria-label="Assistant"]').last().getByText('Mock answer with tool result:').waitFor();
    assert.ok(!(await todosOfAlice()).some((t) => t.id === drop.id), 'deleted after the approval');
    assert.match(await chat(page).locator('li.tool[data-call]').last().locator('summary').textContent(), /delete_todo\s+done/);
    assert.deepEqual(page.problems, []);
  });

  it('picks a knowledge base for the conversation and links the answer\'s [n] to its source', async () => {
    const page = await logIn();
    await chat(page).getByRole('button', { name: 'New conversation' }).click();
    await chat(page).locator('.kb-picker summary').click();
    await chat(page).getByRole('checkbox', { name: 'Geology' }).check();
    await send(page, 'call knowledge_search {"query": "lava"}');
    await streamEnded(page);
    const answer = chat(page).locator('article[aria-label="Assistant"]').last();
    await answer.getByText('Mock answer with tool result:').waitFor();
    await answer.getByRole('button', { name: 'Regenerate' }).waitFor();
    // The new conversation keeps the base.
    const conversations = (await via.get('/api/ai/conversations', { token: alice })).body.data.items;
    const conversation = conversations.find((c) => c.title?.startsWith('call knowledge_search'));
    assert.deepEqual(conversation.knowledgeBaseIds, [kb.id]);

    const cite = answer.locator('a.cite[data-cite="1"]');
    assert.equal(await cite.textContent(), '[1]');
    assert.match(await cite.getAttribute('title'), /^Volcanoes: Volcanoes erupt molten lava/);
    const source = answer.locator('.citations li[data-index="1"] details');
    assert.equal(await source.evaluate((d) => d.open), false);
    await cite.click();
    assert.equal(await source.evaluate((d) => d.open), true, 'the [1] opens its source');
    assert.match(await source.locator('blockquote').textContent(), /Volcanoes erupt molten lava/);

    // Detached from the open conversation (PATCH): the service keeps no base for it.
    await chat(page).getByRole('checkbox', { name: 'Geology' }).uncheck();
    await waitFor(async () => {
      const c = (await via.get(`/api/ai/conversations/${conversation.id}`, { token: alice })).body.data.conversation;
      return c.knowledgeBaseIds.length === 0 ? c : undefined;
    }, 10000, 'the base detached');
    assert.deepEqual(page.problems, []);
  });
});
