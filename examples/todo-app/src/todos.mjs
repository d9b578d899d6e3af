// /api/todos: a user's todos. Input is checked field by field (400 naming the field); another
// user's todo is 404, as one that does not exist. Every change is emitted to the room user:<id>.
import { randomUUID } from 'node:crypto';

import { Router } from 'express';

import { badRequest, notFound } from './http.mjs';

export const MAX_TITLE_CHARS = 200;

function checkFields(body, allowed) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object');
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length) throw badRequest(`unknown field "${unknown[0]}" (allowed: ${allowed.join(', ')})`);
}

function title(value) {
  if (typeof value !== 'string') throw badRequest('"title" must be a string');
  const t = value.trim();
  if (!t) throw badRequest('"title" must not be empty');
  if ([...t].length > MAX_TITLE_CHARS) throw badRequest(`"title" must be at most ${MAX_TITLE_CHARS} characters`);
  return t;
}

// A due date: null, a calendar date (YYYY-MM-DD, kept as such) or an RFC 3339 date-time (kept in UTC).
function due(value) {
  if (value === null) return null;
  if (typeof value !== 'string') throw badRequest('"due" must be a date (YYYY-MM-DD), a date-time (RFC 3339) or null');
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (date) {
    const d = new Date(Date.UTC(+date[1], +date[2] - 1, +date[3]));
    if (d.getUTCFullYear() === +date[1] && d.getUTCMonth() === +date[2] - 1 && d.getUTCDate() === +date[3]) return value;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value) && !Number.isNaN(Date.parse(value))) {
    return new Date(value).toISOString();
  }
  throw badRequest('"due" must be a date (YYYY-MM-DD), a date-time (RFC 3339) or null');
}

export function todosRouter({ store, emit }) {
  const router = Router();
  const owned = async (req) => {
    const todo = await store.get(req.user.id, req.params.id);
    if (!todo) throw notFound('no such todo');
    return todo;
  };

  router.get('/', async (req, res) => {
    const { done } = req.query;
    if (done !== undefined && done !== 'true' && done !== 'false') throw badRequest('"done" must be true or false');
    let items = await store.list(req.user.id);
    if (done !== undefined) items = items.filter((t) => t.done === (done === 'true'));
    items.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    res.json({ items });
  });

  router.post('/', async (req, res) => {
    checkFields(req.body, ['title', 'due']);
    if (!('title' in req.body)) throw badRequest('"title" is required');
    const now = new Date().toISOString();
    const todo = { id: randomUUID(), title: title(req.body.title), done: false, due: 'due' in req.body ? due(req.body.due) : null, createdAt: now, updatedAt: now };
    await store.put(req.user.id, todo);
    emit(req.user.id, 'todo:created', todo);
    res.status(201).location(`/api/todos/${todo.id}`).json(todo);
  });

  router.get('/:id', async (req, res) => { res.json(await owned(req)); });

  router.patch('/:id', async (req, res) => {
    checkFields(req.body, ['title', 'done', 'due']);
    if (!Object.keys(req.body).length) throw badRequest('nothing to change: give title, done or due');
    const changes = {};
    if ('title' in req.body) changes.title = title(req.body.title);
    if ('done' in req.body) {
      if (typeof req.body.done !== 'boolean') throw badRequest('"done" must be true or false');
      changes.done = req.body.done;
    }
    if ('due' in req.body) changes.due = due(req.body.due);
    const todo = { ...(await owned(req)), ...changes, updatedAt: new Date().toISOString() };
    await store.put(req.user.id, todo);
    emit(req.user.id, 'todo:updated', todo);
    res.json(todo);
  });

  router.delete('/:id', async (req, res) => {
    if (!(await store.remove(req.user.id, req.params.id))) throw notFound('no such todo');
    emit(req.user.id, 'todo:deleted', { id: req.params.id });
    res.status(204).end();
  });

  return router;
}
