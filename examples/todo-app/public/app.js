// The page: log in, list / add / tick / delete todos, live updates from Socket.IO (room user:<id>),
// and the token handed to the AI chat component in #ai-chat-slot. Vanilla JS, no build step.
const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem('todo.token'), user: JSON.parse(sessionStorage.getItem('todo.user') ?? 'null'), todos: new Map(), socket: null };

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(state.token ? { authorization: `Bearer ${state.token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status === 401 && state.token) { logout(); throw new Error('Your session has ended: log in again.'); }
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(data?.error?.message ?? `HTTP ${res.status}`);
  return data;
}

function showError(e) {
  $('#error').textContent = e ? e.message : '';
  $('#error').hidden = !e;
}

function render() {
  const filter = $('#filter').value;
  const list = $('#list');
  list.replaceChildren();
  const items = [...state.todos.values()]
    .filter((t) => filter === '' || String(t.done) === filter)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  for (const t of items) {
    const li = document.createElement('li');
    li.className = t.done ? 'done' : '';
    const box = Object.assign(document.createElement('input'), { type: 'checkbox', checked: t.done, title: 'Done' });
    box.addEventListener('change', () => api('PATCH', `/api/todos/${t.id}`, { done: box.checked }).then(upsert, showError));
    const title = Object.assign(document.createElement('span'), { className: 'title', textContent: t.title });
    const due = Object.assign(document.createElement('span'), { className: 'due', textContent: t.due ? `due ${t.due.slice(0, 10)}` : '' });
    const del = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Delete' });
    del.addEventListener('click', () => api('DELETE', `/api/todos/${t.id}`).then(() => remove(t), showError));
    li.append(box, title, due, del);
    list.append(li);
  }
}

const upsert = (t) => { state.todos.set(t.id, t); render(); };
const remove = ({ id }) => { state.todos.delete(id); render(); };

// Hands the token to the AI chat component(s) in the slot, whenever they are there.
function announceAuth() {
  const slot = $('#ai-chat-slot');
  slot.hidden = !state.token;
  for (const el of slot.querySelectorAll('ai-chat')) {
    if (state.token) el.setAttribute('token', state.token); else el.removeAttribute('token');
  }
  slot.dispatchEvent(new CustomEvent('todo-auth', { detail: { token: state.token, user: state.user } }));
}

function connectSocket() {
  // `io` is the global of /socket.io/socket.io.js.
  const socket = window.io({ auth: { token: state.token } });
  socket.on('connect', () => { $('#live').textContent = 'live'; });
  socket.on('disconnect', () => { $('#live').textContent = 'offline'; });
  socket.on('connect_error', (e) => { $('#live').textContent = `offline (${e.message})`; });
  socket.on('todo:created', upsert);
  socket.on('todo:updated', upsert);
  socket.on('todo:deleted', remove);
  state.socket = socket;
}

async function showTodos() {
  $('#login').hidden = true;
  $('#todos').hidden = false;
  $('#logout').hidden = false;
  $('#who').hidden = false;
  $('#who').textContent = state.user?.name ?? '';
  announceAuth();
  connectSocket();
  const { items } = await api('GET', '/api/todos');
  state.todos = new Map(items.map((t) => [t.id, t]));
  render();
}

function logout() {
  state.socket?.close();
  state.socket = null;
  state.token = null;
  state.user = null;
  state.todos.clear();
  sessionStorage.removeItem('todo.token');
  sessionStorage.removeItem('todo.user');
  $('#login').hidden = false;
  $('#todos').hidden = true;
  $('#logout').hidden = true;
  $('#who').hidden = true;
  announceAuth();
}

$('#login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  try {
    const { token, user } = await api('POST', '/api/auth/login', { username: form.get('username'), password: form.get('password') });
    Object.assign(state, { token, user });
    sessionStorage.setItem('todo.token', token);
    sessionStorage.setItem('todo.user', JSON.stringify(user));
    ev.target.reset();
    showError(null);
    await showTodos();
  } catch (e) { showError(e); }
});

$('#add').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const body = { title: form.get('title') };
  if (form.get('due')) body.due = form.get('due');
  try {
    upsert(await api('POST', '/api/todos', body));
    ev.target.reset();
    showError(null);
  } catch (e) { showError(e); }
});

$('#filter').addEventListener('change', render);
$('#logout').addEventListener('click', logout);

if (state.token) showTodos().catch(showError); else announceAuth();
