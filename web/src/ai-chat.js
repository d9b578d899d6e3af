// <ai-chat>: the chat UI of ai-agent-service as one web component (Lit). A sidebar of
// conversations, the conversation with answers streamed as they arrive (Socket.IO when the service
// offers it, Server-Sent Events otherwise), Markdown sanitised by DOMPurify, regenerate / edit
// with versions, model, prompt and knowledge-base pickers, the agent's tool calls (collapsed) with
// approve / reject for those that ask, numbered sources linked from the answer's [n], usage, and
// errors that say what to do. See docs/ui.md.
//
//   <script type="module" src="/api/ai/ui/ai-chat.js"></script>
//   <ai-chat token="…"></ai-chat>            (or el.getToken = async ({refresh}) => token)
import { LitElement, html, nothing } from 'lit';
import { unsafeHTML } from 'lit/directives/unsafe-html.js';
import { io } from 'socket.io-client';

import { Api, ApiError } from './api.js';
import { citationIndex, renderMarkdown } from './markdown.js';
import { styles } from './styles.js';
import { applyToolEvent, hasPendingApproval, hasUnansweredCalls, renderToolCalls, storedToolCalls } from './tools.js';

const DEV_TOKEN_KEY = 'ai-chat.dev-token';
const PAGE_SIZE = 30;
const enc = encodeURIComponent;

const formatCost = (usd) => (usd >= 1 ? `$${usd.toFixed(2)}` : `$${(usd ?? 0).toFixed(4)}`);
function formatDuration(seconds) {
  if (seconds < 90) return `${Math.max(0, Math.ceil(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

export class AiChat extends LitElement {
  static styles = styles;

  static properties = {
    token: { type: String },
    baseUrl: { type: String, attribute: 'base-url' },
    transport: { type: String },  // auto (default) | socket | sse
    fullPage: { type: Boolean, attribute: 'full-page', reflect: true },
    _phase: { state: true },  // loading | signin | signed-out | ready
    _conversations: { state: true },
    _nextCursor: { state: true },
    _listLoading: { state: true },
    _query: { state: true },
    _archived: { state: true },
    _current: { state: true },
    _messages: { state: true },
    _messagesLoading: { state: true },
    _streaming: { state: true },
    _models: { state: true },
    _model: { state: true },
    _prompts: { state: true },
    _promptId: { state: true },
    _usage: { state: true },
    _notice: { state: true },
    _now: { state: true },
    _sidebarOpen: { state: true },
    _itemAction: { state: true },  // {id, kind: menu|rename|tags|delete}
    _editing: { state: true },
    _versions: { state: true },
    _devUser: { state: true },
    _live: { state: true },
    _knowledge: { state: true },  // the user's knowledge bases
    _kbIds: { state: true },  // those picked for the next new conversation
  };

  // Not class fields: Lit's reactive properties are accessors a class field would shadow.
  constructor() {
    super();
    this.token = null;
    this.getToken = null;
    this.baseUrl = '';
    this.transport = 'auto';
    this.fullPage = false;
    this._phase = 'loading';
    this._conversations = [];
    this._nextCursor = null;
    this._listLoading = false;
    this._query = '';
    this._archived = false;
    this._current = null;
    this._messages = [];
    this._messagesLoading = false;
    this._streaming = null;
    this._models = [];
    this._model = '';
    this._prompts = [];
    this._promptId = '';
    this._usage = null;
    this._notice = null;
    this._now = Date.now();
    this._sidebarOpen = false;
    this._itemAction = null;
    this._editing = null;
    this._versions = {};
    // The open conversation's confirmations still waiting (after a reload), by call id.
    this._pendingCalls = new Map();
    this._devUser = null;
    this._live = false;
    this._knowledge = [];
    this._kbIds = [];
    this.draft = '';
    this._devToken = null;
    this._config = null;
    this._socket = null;
    this._timers = new Set();
    this._searchTimer = null;
    this._reconnecting = false;
    this._generation = 0;
    this.api = new Api('', {
      get: (refresh) => this._tokenFor(refresh),
      canRefresh: () => typeof this.getToken === 'function',
    });
    this._onKey = (e) => { if (e.key === 'Escape' && this._streaming) { e.preventDefault(); this.stop(); } };
    this._onOnline = () => this._recover();
    this._onOffline = () => this._setNotice({ kind: 'offline', text: 'You are offline. Reconnecting when the network is back; your draft is kept.' });
  }

  async _tokenFor(refresh) {
    if (typeof this.getToken === 'function') return this.getToken({ refresh });
    return this.token || this._devToken;
  }

  connectedCallback() {
    super.connectedCallback();
    this.addEventListener('keydown', this._onKey);
    window.addEventListener('online', this._onOnline);
    window.addEventListener('offline', this._onOffline);
    this._ticker = setInterval(() => {
      if (this._notice?.until || hasPendingApproval(this._streaming?.steps) || this._pendingCalls.size) this._tick();
    }, 250);
    this._boot();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.removeEventListener('keydown', this._onKey);
    window.removeEventListener('online', this._onOnline);
    window.removeEventListener('offline', this._onOffline);
    clearInterval(this._ticker);
    this._closeSocket();
  }

  willUpdate(changed) {
    if (changed.has('baseUrl')) this.api.base = (this.baseUrl ?? '').replace(/\/$/, '');
  }

  updated(changed) {
    // A new token from the host page (a login, a refresh): start over as that user.
    if (changed.has('token') && changed.get('token') !== undefined && this.isConnected) this._boot();
    this._addCopyButtons();
    if (changed.has('_messages') || changed.has('_streaming')) this._scrollToEnd();
  }

  // ---- start-up and sign-in -----------------------------------------------------------------

  async _boot() {
    const generation = ++this._generation;
    this._closeSocket();
    this._phase = 'loading';
    this._current = null;
    this._messages = [];
    this._conversations = [];
    try {
      this._config = await this.api.get('/api/ai/ui/config');
    } catch {
      this._config = { devSignIn: false, socketioPath: '' };
    }
    if (generation !== this._generation) return;
    if (!this.token && typeof this.getToken !== 'function') {
      this._devToken = this._config.devSignIn ? sessionStorage.getItem(DEV_TOKEN_KEY) : null;
      this._devUser = this._devToken ? sessionStorage.getItem(`${DEV_TOKEN_KEY}.user`) : null;
      if (!this._devToken) {
        this._phase = this._config.devSignIn ? 'signin' : 'signed-out';
        return;
      }
    }
    this._phase = 'ready';
    this._connectSocket();
    await Promise.all([this._loadConversations(), this._loadModels(), this._loadPrompts(), this._loadUsage(), this._loadKnowledge()]);
    this._focusComposer();
  }

  async _devSignIn(e) {
    e.preventDefault();
    const user = new FormData(e.target).get('user')?.toString().trim();
    try {
      const { token } = await this.api.post('/api/ai/dev/token', { user });
      sessionStorage.setItem(DEV_TOKEN_KEY, token);
      sessionStorage.setItem(`${DEV_TOKEN_KEY}.user`, user);
      this._notice = null;
      await this._boot();
    } catch (err) {
      this._setNotice({ kind: 'other', text: err.message });
    }
  }

  _signOut() {
    sessionStorage.removeItem(DEV_TOKEN_KEY);
    sessionStorage.removeItem(`${DEV_TOKEN_KEY}.user`);
    this._devToken = null;
    this._boot();
  }

  // ---- Socket.IO ------------------------------------------------------------------------------

  _useSocket() {
    return this.transport !== 'sse' && this._socket?.connected;
  }

  _connectSocket() {
    if (this.transport === 'sse' || !this._config?.socketioPath) return;
    const socket = io(this.api.base || window.location.origin, {
      path: this._config.socketioPath,
      auth: (cb) => { this._tokenFor(false).then((token) => cb({ token })); },
    });
    socket.on('connect', () => { this._live = true; });
    socket.on('disconnect', () => {
      this._live = false;
      if (this._streaming?.via === 'socket') this._streamBroke(new ApiError({ message: 'The connection broke while the answer was streaming.' }));
    });
    socket.on('ai:start', (d) => this._onStreamEvent('start', d, 'socket'));
    socket.on('ai:delta', (d) => this._onStreamEvent('delta', d, 'socket'));
    socket.on('ai:usage', (d) => this._onStreamEvent('usage', d, 'socket'));
    socket.on('ai:done', (d) => this._onStreamEvent('done', d, 'socket'));
    socket.on('ai:error', (d) => this._onStreamEvent('error', d, 'socket'));
    for (const name of ['tool_call', 'tool_confirmation', 'tool_result', 'citations']) {
      socket.on(`ai:${name}`, (d) => this._onStreamEvent(name, d, 'socket'));
    }
    // An answer recorded elsewhere (another tab, the REST API): the lists follow.
    socket.on('ai-message', (d) => {
      if (this._streaming) return;
      this._loadConversations();
      if (d.conversationId === this._current?.id) this._openConversation(this._current.id, { keepFocus: true });
    });
    this._socket = socket;
  }

  _closeSocket() {
    this._socket?.close();
    this._socket = null;
    this._live = false;
  }

  // ---- loading --------------------------------------------------------------------------------

  _listQuery(cursor) {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (cursor) q.set('cursor', cursor);
    if (this._query.trim()) q.set('q', this._query.trim());
    if (this._archived) q.set('archived', 'true');
    return `/api/ai/conversations?${q}`;
  }

  async _loadConversations({ more = false } = {}) {
    if (more && (!this._nextCursor || this._listLoading)) return;
    const generation = this._generation;
    this._listLoading = true;
    try {
      const page = await this.api.get(this._listQuery(more ? this._nextCursor : null));
      if (generation !== this._generation) return;
      this._conversations = more ? [...this._conversations, ...page.items] : page.items;
      this._nextCursor = page.nextCursor;
    } catch (e) {
      this._showError(e);
    } finally {
      this._listLoading = false;
    }
  }

  async _loadModels() {
    try {
      const list = await this.api.get('/api/ai/v1/models');
      this._models = (list?.data ?? []).map((m) => m.id);
    } catch { this._models = []; }
  }

  async _loadPrompts() {
    try {
      this._prompts = (await this.api.get('/api/ai/prompts?limit=100')).items;
    } catch { this._prompts = []; }
  }

  async _loadKnowledge() {
    try {
      this._knowledge = (await this.api.get('/api/ai/knowledge?limit=100')).items;
    } catch { this._knowledge = []; }
  }

  async _loadUsage() {
    try { this._usage = await this.api.get('/api/ai/usage/me'); } catch { /* shown when it loads */ }
  }

  async _openConversation(id, { keepFocus = false } = {}) {
    if (this._streaming) return;
    const generation = this._generation;
    this._messagesLoading = true;
    this._editing = null;
    this._versions = {};
    this._sidebarOpen = false;
    try {
      const data = await this.api.get(`/api/ai/conversations/${enc(id)}?limit=100`);
      if (generation !== this._generation) return;
      // A call of the latest step still unanswered may wait for the user's approval (a reload
      // during the wait): its buttons come back.
      const pending = new Map();
      if (hasUnansweredCalls(data.messages.items)) {
        const waiting = await this.api.get(`/api/ai/conversations/${enc(id)}/tool-calls/pending`).catch(() => ({ items: [] }));
        for (const c of waiting.items) pending.set(c.callId, this._pendingCalls.get(c.callId) ?? { state: 'pending', expiresAt: Date.parse(c.expiresAt) });
      }
      if (generation !== this._generation) return;
      this._pendingCalls = pending;
      this._current = data.conversation;
      this._messages = data.messages.items;
      this._model = data.conversation.model ?? '';
      this._kbIds = data.conversation.knowledgeBaseIds ?? [];
      this._promptId = data.conversation.promptId ?? '';
    } catch (e) {
      this._showError(e);
    } finally {
      this._messagesLoading = false;
    }
    if (!keepFocus) this._focusComposer();
  }

  _newConversation() {
    if (this._streaming) return;
    this._current = null;
    this._messages = [];
    this._pendingCalls = new Map();
    this._model = '';
    this._promptId = '';
    this._kbIds = [];
    this._versions = {};
    this._sidebarOpen = false;
    this._focusComposer();
  }

  // ---- sending and streaming ------------------------------------------------------------------

  async send() {
    const text = this.draft.trim();
    if (!text || this._streaming || this._blocked()) return;
    const body = { message: text };
    if (this._current) body.conversationId = this._current.id;
    else {
      if (this._model) body.model = this._model;
      if (this._promptId) body.promptId = this._promptId;
      if (this._kbIds.length) body.knowledgeBaseIds = this._kbIds;
    }
    this._notice = null;
    this._messages = [...this._messages, { id: `local-${Date.now()}`, role: 'user', content: text, local: true }];
    // The socket's ai:chat takes no prompt: a new conversation with one is asked over HTTP.
    const viaSocket = this._useSocket() && !body.promptId;
    await this._runTurn(viaSocket ? 'socket' : 'sse', '/api/ai/chat', body, { clearsDraft: true });
  }

  regenerate(message) {
    if (this._streaming || this._blocked()) return;
    const at = this._messages.findIndex((m) => m.id === message.id);
    this._messages = this._messages.slice(0, at);
    return this._runTurn('sse', `/api/ai/conversations/${enc(this._current.id)}/messages/${enc(message.id)}/regenerate`, {});
  }

  async _saveEdit(e, message) {
    e.preventDefault();
    const text = new FormData(e.target).get('text')?.toString().trim();
    if (!text || this._streaming || this._blocked()) return;
    this._editing = null;
    const at = this._messages.findIndex((m) => m.id === message.id);
    this._messages = [...this._messages.slice(0, at), { id: `local-${Date.now()}`, role: 'user', content: text, local: true }];
    await this._runTurn('sse', `/api/ai/conversations/${enc(this._current.id)}/messages/${enc(message.id)}/edit`, { message: text });
  }

  async _runTurn(via, path, body, { clearsDraft = false } = {}) {
    let settle;
    const finished = new Promise((resolve) => { settle = resolve; });
    this._streaming = {
      via, text: '', conversationId: body.conversationId ?? this._current?.id ?? null, messageId: null,
      clearsDraft, abort: new AbortController(), settle, newConversation: !body.conversationId && !this._current,
      steps: [], citations: null,
    };
    try {
      if (via === 'socket') {
        const ack = await this._socket.timeout(15000).emitWithAck('ai:chat', body);
        if (ack?.error) throw new ApiError({ status: statusOf(ack.error.code), ...ack.error });
        this._adopt(ack);
      } else {
        await this.api.stream(path, body, (name, data) => this._onStreamEvent(name, data, 'sse'), { signal: this._streaming.abort.signal });
      }
      await finished;
    } catch (e) {
      if (e.name === 'AbortError') this._finish({ status: 'interrupted', finishReason: 'stopped' });
      else if (this._streaming?.messageId) this._streamBroke(e);
      else this._refused(e);
    }
  }

  _adopt({ conversationId, messageId }) {
    const s = this._streaming;
    if (!s) return;
    if (conversationId) s.conversationId = conversationId;
    if (messageId) s.messageId = messageId;
    if (s.clearsDraft) {
      this.draft = '';
      const box = this.renderRoot.querySelector('form.composer textarea');
      if (box) box.value = '';
    }
    if (s.newConversation && conversationId && !this._current) {
      const title = this._messages.at(-1)?.content.split('\n')[0].slice(0, 80) ?? '';
      this._current = { id: conversationId, title, pinned: false, archived: false, tags: [] };
      this._loadConversations();
    }
    this.requestUpdate();
  }

  _onStreamEvent(name, data, via) {
    const s = this._streaming;
    if (!s || s.via !== via) return;
    if (via === 'socket' && data.conversationId && s.conversationId && data.conversationId !== s.conversationId) return;
    if (name === 'start') this._adopt(data);
    else if (name === 'delta') {
      s.text += data.text;
      this.requestUpdate('_streaming');
    } else if (applyToolEvent(s.steps, name, data)) this.requestUpdate('_streaming');
    else if (name === 'citations') {
      s.citations = data.citations;
      this.requestUpdate('_streaming');
    } else if (name === 'done') this._finish(data);
    else if (name === 'error') {
      const err = new ApiError({ status: statusOf(data.code), code: data.code, message: data.message, retryAfter: data.retryAfter ?? null });
      if (s.messageId) this._finish({ status: 'error', finishReason: data.code }, err);
      else { this._refused(err); s.settle(); }
    }
  }

  // The answer ended (done, stopped, or an error after it started): what was said stays on
  // screen, then the stored conversation replaces the local copy (ids, versions, status).
  async _finish(done, error = null) {
    const s = this._streaming;
    if (!s) return;
    this._streaming = null;
    s.settle();
    this._messages = [...this._messages, {
      id: done.messageId ?? s.messageId ?? `local-${Date.now()}`, role: 'assistant', content: s.text,
      status: done.status ?? 'complete', metadata: { finishReason: done.finishReason, citations: s.citations ?? undefined },
      steps: s.steps, local: true,
    }];
    if (error) this._showError(error);
    const id = s.conversationId;
    await Promise.all([id ? this._openConversation(id, { keepFocus: true }) : null, this._loadConversations(), this._loadUsage()]);
  }

  // Refused before the answer started: the question was not taken, so it goes back to the draft.
  _refused(e) {
    const s = this._streaming;
    this._streaming = null;
    s?.settle();
    if (this._messages.at(-1)?.local && this._messages.at(-1).role === 'user') this._messages = this._messages.slice(0, -1);
    this._showError(e);
    if (e.kind === 'offline') this._recover();
  }

  // The connection broke mid-answer: keep the partial answer, wait for the service, then show
  // what it stored (the answer marked interrupted).
  _streamBroke(e) {
    const s = this._streaming;
    if (!s) return;
    this._streaming = null;
    s.settle();
    this._messages = [...this._messages, { id: s.messageId, role: 'assistant', content: s.text, status: 'interrupted', steps: s.steps, local: true }];
    this._showError(e);
    this._recover(s.conversationId);
  }

  async stop() {
    const s = this._streaming;
    if (!s) return;
    if (!s.conversationId || !s.messageId) { s.abort.abort(); return; }
    try {
      if (s.via === 'socket' && this._socket?.connected) await this._socket.timeout(5000).emitWithAck('ai:stop', { conversationId: s.conversationId });
      else await this.api.post(`/api/ai/conversations/${enc(s.conversationId)}/stop`);
    } catch (e) {
      s.abort.abort();
      this._showError(e);
    }
  }

  // The user's answer to a tool_confirmation; the stream then goes on with the call's result.
  async _decide(item, approve) {
    const s = this._streaming;
    if (!s) return this._decideStored(item, approve);
    if (!s.conversationId || item.confirm?.state !== 'pending') return;
    item.confirm = { ...item.confirm, state: approve ? 'approving' : 'rejecting' };
    this.requestUpdate('_streaming');
    try {
      await this.api.post(`/api/ai/conversations/${enc(s.conversationId)}/tool-calls/${enc(item.callId)}/${approve ? 'approve' : 'reject'}`);
    } catch (e) {
      // Already decided or expired (409), or gone (404): the stream's tool_result says the rest.
      if (item.result === undefined) item.confirm = { ...item.confirm, state: 'pending', error: `Could not ${approve ? 'approve' : 'reject'}: ${e.message}` };
    }
    this.requestUpdate('_streaming');
    this._focusComposer();
  }

  // The answer to a confirmation shown after a reload: no stream follows the turn here, so the
  // conversation is read again until the call has its result (Socket.IO's ai-message may reload
  // it sooner).
  async _decideStored(item, approve) {
    const id = this._current?.id;
    const confirm = this._pendingCalls.get(item.callId);
    if (!id || confirm?.state !== 'pending') return;
    Object.assign(confirm, { state: approve ? 'approving' : 'rejecting', error: undefined });
    this.requestUpdate();
    try {
      await this.api.post(`/api/ai/conversations/${enc(id)}/tool-calls/${enc(item.callId)}/${approve ? 'approve' : 'reject'}`);
    } catch (e) {
      Object.assign(confirm, { state: 'pending', error: `Could not ${approve ? 'approve' : 'reject'}: ${e.message}` });
      this.requestUpdate();
      return;
    }
    for (let delay = 250; this._current?.id === id && !this._streaming; delay = Math.min(delay * 2, 2000)) {
      await new Promise((r) => setTimeout(r, delay));
      if (this._current?.id !== id || this._streaming) break;
      await this._openConversation(id, { keepFocus: true });
      const last = this._messages.at(-1);
      if (last?.role === 'assistant' && !last.toolCalls?.length && last.status !== 'streaming') break;
    }
  }

  // Polls the service's liveness until it answers, then reloads what is on screen.
  async _recover(conversationId = this._current?.id) {
    if (this._reconnecting) return;
    this._reconnecting = true;
    this._setNotice({ kind: 'offline', text: 'Connection to the AI service lost. Reconnecting… your draft is kept.' });
    for (let delay = 500; ; delay = Math.min(delay * 2, 4000)) {
      try {
        const res = await fetch(`${this.api.base}/health`, { cache: 'no-store' });
        if (res.ok) break;
      } catch { /* still down */ }
      await new Promise((r) => setTimeout(r, delay));
    }
    this._reconnecting = false;
    if (this._notice?.kind === 'offline') this._notice = null;
    if (this._socket && !this._socket.connected) this._socket.connect();
    await Promise.all([conversationId ? this._openConversation(conversationId, { keepFocus: true }) : null, this._loadConversations(), this._loadUsage()]);
    this._setNotice({ kind: 'recovered', text: 'Reconnected.', until: Date.now() + 4000 });
  }

  // ---- errors ---------------------------------------------------------------------------------

  _blocked() {
    return (this._notice?.kind === 'rate_limited' || this._notice?.kind === 'budget') && this._notice.until > Date.now();
  }

  _setNotice(n) {
    this._notice = n;
    this._now = Date.now();
  }

  _tick() {
    this._now = Date.now();
    if (this._notice?.until && this._notice.until <= this._now) {
      const was = this._notice.kind;
      this._notice = null;
      if (was === 'rate_limited') this._focusComposer();
    }
  }

  async _showError(e) {
    if (!(e instanceof ApiError)) e = new ApiError({ code: 'other', message: String(e?.message ?? e) });
    switch (e.kind) {
      case 'rate_limited':
        this._setNotice({ kind: 'rate_limited', until: Date.now() + (e.retryAfter ?? 10) * 1000 });
        break;
      case 'budget': {
        await this._loadUsage();
        const l = this._usage?.limits;
        const spent = [l?.dailyBudget, l?.monthlyBudget].find((b) => b?.limit != null && b.remaining != null && b.remaining <= 0);
        this._setNotice({ kind: 'budget', until: spent ? Date.now() + spent.resetSeconds * 1000 : null, text: e.message });
        break;
      }
      case 'unavailable':
        this._setNotice({ kind: 'unavailable', text: 'The AI service is busy or a model is unavailable (503). Try again in a moment.' });
        break;
      case 'offline':
        this._setNotice({ kind: 'offline', text: 'Connection to the AI service lost. Reconnecting… your draft is kept.' });
        break;
      case 'auth':
        if (this._devToken) {
          this._signOut();
          this._setNotice({ kind: 'auth', text: 'Your development sign-in has expired: sign in again.' });
        } else this._setNotice({ kind: 'auth', text: 'Your session has ended: sign in again in the host application.' });
        break;
      default:
        this._setNotice({ kind: 'other', text: e.message });
    }
  }

  _noticeText() {
    const n = this._notice;
    const left = n.until ? (n.until - this._now) / 1000 : 0;
    if (n.kind === 'rate_limited') return `Too many requests. You can send again in ${formatDuration(left)}.`;
    if (n.kind === 'budget') return `Your AI budget is spent${n.until ? `; it resets in ${formatDuration(left)}` : ''}. Ask an administrator to raise it if you need more now.`;
    return n.text;
  }

  // ---- conversation actions -------------------------------------------------------------------

  async _patch(conversation, changes) {
    try {
      const updated = await this.api.patch(`/api/ai/conversations/${enc(conversation.id)}`, changes);
      this._itemAction = null;
      if (this._current?.id === updated.id) this._current = updated;
      await this._loadConversations();
    } catch (e) {
      this._showError(e);
    }
  }

  async _delete(conversation) {
    try {
      await this.api.delete(`/api/ai/conversations/${enc(conversation.id)}`);
      this._itemAction = null;
      if (this._current?.id === conversation.id) this._newConversation();
      await this._loadConversations();
    } catch (e) {
      this._showError(e);
    }
  }

  async _pickModel(e) {
    this._model = e.target.value;
    if (this._current) await this._patch(this._current, { model: this._model || null });
  }

  // Attaches or detaches a knowledge base: the open conversation's (PATCH), or the next new one's.
  async _toggleKnowledge(id, on) {
    const ids = on ? [...new Set([...this._kbIds, id])] : this._kbIds.filter((k) => k !== id);
    if (!this._current) {
      this._kbIds = ids;
      return;
    }
    try {
      const updated = await this.api.patch(`/api/ai/conversations/${enc(this._current.id)}`, { knowledgeBaseIds: ids });
      this._current = updated;
      this._kbIds = updated.knowledgeBaseIds ?? ids;
    } catch (e) {
      this._showError(e);
    }
  }

  // A citation mark [n] in an answer opens its source in the list below it.
  _onLogClick(e) {
    const a = e.target.closest?.('a[data-cite]');
    if (!a) return;
    e.preventDefault();
    const item = a.closest('article')?.querySelector(`.citations li[data-index="${a.dataset.cite}"] details`);
    if (!item) return;
    item.open = true;
    item.querySelector('summary')?.focus();
    item.scrollIntoView({ block: 'nearest' });
  }

  async _pickPrompt(e) {
    this._promptId = e.target.value;
    if (this._current) await this._patch(this._current, { promptId: this._promptId || null });
  }

  async _showVersion(message, step) {
    let v = this._versions[message.id];
    if (!v) {
      try {
        const { items } = await this.api.get(`/api/ai/conversations/${enc(this._current.id)}/messages/${enc(message.id)}/versions`);
        v = { items, index: Math.max(0, items.findIndex((m) => m.active)) };
      } catch (e) {
        this._showError(e);
        return;
      }
    }
    const index = Math.min(v.items.length - 1, Math.max(0, v.index + step));
    this._versions = { ...this._versions, [message.id]: { ...v, index } };
  }

  _onSearch(e) {
    this._query = e.target.value;
    clearTimeout(this._searchTimer);
    this._searchTimer = setTimeout(() => this._loadConversations(), 250);
  }

  _onListScroll(e) {
    const el = e.target;
    if (el.scrollTop + el.clientHeight >= el.scrollHeight - 40) this._loadConversations({ more: true });
  }

  // ---- DOM helpers ----------------------------------------------------------------------------

  _focusComposer() {
    this.updateComplete.then(() => this.renderRoot.querySelector('form.composer textarea')?.focus());
  }

  _scrollToEnd() {
    const log = this.renderRoot.querySelector('.log');
    if (log) log.scrollTop = log.scrollHeight;
  }

  // Copy buttons are added after render, to sanitised markup that has none of its own.
  _addCopyButtons() {
    for (const pre of this.renderRoot.querySelectorAll('.md pre')) {
      if (pre.querySelector(':scope > button.copy')) continue;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'copy';
      button.textContent = 'Copy';
      button.setAttribute('aria-label', `Copy ${pre.dataset.lang ?? ''} code`.replace('  ', ' '));
      button.addEventListener('click', async () => {
        const text = pre.querySelector('code')?.textContent ?? '';
        try { await navigator.clipboard.writeText(text); button.textContent = 'Copied'; } catch { button.textContent = 'Copy failed'; }
        setTimeout(() => { button.textContent = 'Copy'; }, 1500);
      });
      pre.append(button);
    }
  }

  _onComposerKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.send();
    }
  }

  // ---- rendering ------------------------------------------------------------------------------

  render() {
    if (this._phase === 'loading') return html`<div class="app"><p class="empty-state" role="status">Loading…</p></div>`;
    if (this._phase === 'signin') return this._renderSignIn();
    if (this._phase === 'signed-out') {
      return html`<div class="app"><div class="signin" role="status"><h2>Not signed in</h2>
        <p>The page hosting this chat gives it your sign-in (the <code>token</code> attribute or <code>getToken()</code>).</p></div></div>`;
    }
    return html`<div class="app">
      ${this._renderHeader()}
      ${this._renderSidebar()}
      <main aria-label="Conversation">
        ${this._renderLog()}
        ${this._notice ? this._renderNotice() : nothing}
        ${this._renderComposer()}
      </main>
    </div>`;
  }

  _renderSignIn() {
    return html`<div class="app"><form class="signin" @submit=${this._devSignIn} aria-labelledby="signin-title">
      <h2 id="signin-title">Development sign-in</h2>
      <p>This service runs with its development secret, so you may chat as any user name. With a real
        JWT_SECRET the host application signs you in instead.</p>
      <label for="user">User name</label>
      <input id="user" name="user" required maxlength="64" pattern="[A-Za-z0-9._@\\-]+" autocomplete="username" autofocus>
      <button class="primary" type="submit">Sign in</button>
      ${this._notice ? html`<p role="alert">${this._notice.text}</p>` : nothing}
    </form></div>`;
  }

  _renderHeader() {
    const totals = this._usage?.totals;
    const daily = this._usage?.limits?.dailyBudget;
    return html`<header>
      <button class="menu-toggle" type="button" aria-expanded=${String(this._sidebarOpen)} aria-controls="sidebar"
        @click=${() => { this._sidebarOpen = !this._sidebarOpen; }}>Conversations</button>
      <h1>${this._current?.title || 'New conversation'}</h1>
      <label>Model <select aria-label="Model" @change=${this._pickModel} .value=${this._model}>
        <option value="" ?selected=${!this._model}>default</option>
        ${this._models.map((m) => html`<option value=${m} ?selected=${m === this._model}>${m}</option>`)}
      </select></label>
      <label>Prompt <select aria-label="System prompt" @change=${this._pickPrompt} .value=${this._promptId}>
        <option value="" ?selected=${!this._promptId}>none</option>
        ${this._prompts.map((p) => html`<option value=${p.id} ?selected=${p.id === this._promptId}>${p.name}</option>`)}
      </select></label>
      ${this._renderKnowledgePicker()}
      ${totals ? html`<span class="usage" aria-label="Your usage this month">${totals.requests} requests · ${formatCost(totals.cost)}${daily?.limit != null ? html` · today ${formatCost(daily.spent)} of ${formatCost(daily.limit)}` : nothing}</span>` : nothing}
      ${this._devToken ? html`<span class="usage">${this._devUser}</span><button type="button" @click=${this._signOut}>Sign out</button>` : nothing}
    </header>`;
  }

  // The user's knowledge bases, each a checkbox: attached to the open conversation (or the next
  // new one), its answers draw on them and cite them.
  _renderKnowledgePicker() {
    if (!this._knowledge.length) return nothing;
    const picked = new Set(this._kbIds);
    return html`<details class="kb-picker">
      <summary aria-label=${`Knowledge bases, ${picked.size} attached`}>Knowledge${picked.size ? ` (${picked.size})` : ''}</summary>
      <fieldset>
        <legend>Answer from these knowledge bases</legend>
        ${this._knowledge.map((kb) => html`<label class="row"><input type="checkbox" .checked=${picked.has(kb.id)}
          @change=${(e) => this._toggleKnowledge(kb.id, e.target.checked)}> ${kb.name}</label>`)}
      </fieldset>
    </details>`;
  }

  _renderSidebar() {
    const items = [...this._conversations].sort((a, b) => Number(b.pinned) - Number(a.pinned));
    return html`<nav id="sidebar" aria-label="Conversations" class=${this._sidebarOpen ? 'open-mobile' : ''}>
      <div class="tools">
        <button class="primary" type="button" @click=${this._newConversation}>New conversation</button>
        <input type="search" aria-label="Search conversations" placeholder="Search" .value=${this._query} @input=${this._onSearch}>
        <label class="row"><input type="checkbox" .checked=${this._archived}
          @change=${(e) => { this._archived = e.target.checked; this._loadConversations(); }}> Show archived</label>
      </div>
      <ul aria-label="Conversation list" @scroll=${this._onListScroll}>
        ${items.map((c) => this._renderItem(c))}
        ${!items.length && !this._listLoading ? html`<li class="empty">${this._query ? 'No conversation matches.' : 'No conversations yet.'}</li>` : nothing}
        ${this._listLoading ? html`<li class="loading" role="status">Loading…</li>` : nothing}
        ${this._nextCursor && !this._listLoading ? html`<li><button type="button" @click=${() => this._loadConversations({ more: true })}>Load more</button></li>` : nothing}
      </ul>
    </nav>`;
  }

  _renderItem(c) {
    const action = this._itemAction?.id === c.id ? this._itemAction.kind : null;
    const title = c.title || 'Untitled';
    return html`<li class=${this._current?.id === c.id ? 'current' : ''} data-id=${c.id}>
      <div class="item">
        <button class="open" type="button" aria-current=${this._current?.id === c.id ? 'true' : 'false'} @click=${() => this._openConversation(c.id)}>
          <span class="title">${c.pinned ? html`<span aria-hidden="true">★ </span><span class="sr-only">pinned: </span>` : nothing}${title}</span>
          ${c.tags?.length ? html`<span class="tags">${c.tags.map((t) => `#${t}`).join(' ')}</span>` : nothing}
        </button>
        <button class="icon" type="button" aria-label=${`Actions for ${title}`} aria-expanded=${String(!!action)}
          @click=${() => { this._itemAction = action ? null : { id: c.id, kind: 'menu' }; }}>⋯</button>
      </div>
      ${action === 'menu' ? html`<div class="actions">
        <button type="button" @click=${() => { this._itemAction = { id: c.id, kind: 'rename' }; this._focusIn('input[name=title]'); }}>Rename</button>
        <button type="button" @click=${() => this._patch(c, { pinned: !c.pinned })}>${c.pinned ? 'Unpin' : 'Pin'}</button>
        <button type="button" @click=${() => this._patch(c, { archived: !c.archived })}>${c.archived ? 'Unarchive' : 'Archive'}</button>
        <button type="button" @click=${() => { this._itemAction = { id: c.id, kind: 'tags' }; this._focusIn('input[name=tags]'); }}>Tags</button>
        <button type="button" class="danger" @click=${() => { this._itemAction = { id: c.id, kind: 'delete' }; this._focusIn('button.confirm'); }}>Delete</button>
      </div>` : nothing}
      ${action === 'rename' ? html`<form class="inline" @submit=${(e) => { e.preventDefault(); this._patch(c, { title: new FormData(e.target).get('title').toString() }); }}>
        <input name="title" aria-label="New title" maxlength="200" .value=${c.title ?? ''}>
        <button type="submit">Save</button><button type="button" @click=${() => { this._itemAction = null; }}>Cancel</button>
      </form>` : nothing}
      ${action === 'tags' ? html`<form class="inline" @submit=${(e) => { e.preventDefault(); this._patch(c, { tags: new FormData(e.target).get('tags').toString().split(',').map((t) => t.trim()).filter(Boolean) }); }}>
        <input name="tags" aria-label="Tags, separated by commas" .value=${(c.tags ?? []).join(', ')}>
        <button type="submit">Save</button><button type="button" @click=${() => { this._itemAction = null; }}>Cancel</button>
      </form>` : nothing}
      ${action === 'delete' ? html`<div class="actions" role="alertdialog" aria-label=${`Delete ${title}?`}>
        <span>Delete for good?</span>
        <button type="button" class="danger confirm" @click=${() => this._delete(c)}>Delete</button>
        <button type="button" @click=${() => { this._itemAction = null; }}>Cancel</button>
      </div>` : nothing}
    </li>`;
  }

  _focusIn(selector) {
    this.updateComplete.then(() => this.renderRoot.querySelector(`nav ${selector}`)?.focus());
  }

  _renderLog() {
    const s = this._streaming;
    const stored = storedToolCalls(this._messages, this._pendingCalls);
    const tools = { now: this._now, decide: (item, approve) => this._decide(item, approve) };
    return html`<section class="log" role="log" aria-live="polite" aria-label="Messages" aria-busy=${String(!!s || this._messagesLoading)}
      @click=${this._onLogClick}>
      ${this._messagesLoading && !this._messages.length ? html`<p class="empty-state" role="status">Loading…</p>` : nothing}
      ${!this._messages.length && !s && !this._messagesLoading ? html`<div class="empty-state"><p>Ask anything. Enter sends, Shift+Enter adds a line, Esc stops an answer.</p></div>` : nothing}
      ${this._messages.map((m, i) => (m.role === 'tool' ? nothing : this._renderMessage(m, i === this._messages.length - 1, stored.get(m.id) ?? m.steps, tools)))}
      ${s ? html`<article class="msg assistant" aria-label="Answer being written">
        ${renderToolCalls(s.steps, tools)}
        ${s.text || !hasPendingApproval(s.steps) ? html`<div class="md ${s.text ? 'cursor' : ''}">${s.text ? unsafeHTML(renderMarkdown(s.text, s.citations)) : html`<span class="cursor" role="status">Thinking</span>`}</div>` : nothing}
        ${s.citations?.length ? this._renderCitations(s.citations) : nothing}
      </article>` : nothing}
    </section>`;
  }

  _renderMessage(m, last, steps, tools) {
    const v = this._versions[m.id];
    const shown = v ? v.items[v.index] : m;
    const versions = m.versionCount ?? 1;
    const citations = shown.citations ?? shown.metadata?.citations;
    const editable = m.role === 'user' && !m.local && !this._streaming;
    if (this._editing === m.id) {
      return html`<article class="msg user"><form @submit=${(e) => this._saveEdit(e, m)}>
        <textarea name="text" aria-label="Edit your message" .value=${m.content}></textarea>
        <div class="meta"><button class="primary" type="submit">Send edit</button>
          <button type="button" @click=${() => { this._editing = null; }}>Cancel</button></div>
      </form></article>`;
    }
    const status = shown.status && shown.status !== 'complete' ? shown.status : null;
    return html`<article class="msg ${m.role}" aria-label=${m.role === 'user' ? 'You' : 'Assistant'} data-id=${m.id}>
      ${renderToolCalls(steps, tools)}
      ${shown.content || !steps?.length ? html`<div class="md">${unsafeHTML(renderMarkdown(shown.content, m.role === 'assistant' ? citations : null))}</div>` : nothing}
      ${Array.isArray(citations) && citations.length ? this._renderCitations(citations) : nothing}
      <div class="meta">
        ${status ? html`<span class="status">${status === 'interrupted' ? (shown.metadata?.finishReason === 'stopped' ? 'stopped' : 'interrupted') : status}</span>` : nothing}
        ${versions > 1 && !m.local ? html`<span role="group" aria-label="Versions">
          <button type="button" aria-label="Previous version" ?disabled=${v ? v.index === 0 : false} @click=${() => this._showVersion(m, -1)}>‹</button>
          <span class="version">${v ? v.index + 1 : versions}/${versions}</span>
          <button type="button" aria-label="Next version" ?disabled=${!v || v.index === v.items.length - 1} @click=${() => this._showVersion(m, +1)}>›</button>
        </span>` : nothing}
        ${m.role === 'assistant' && !m.local && !this._streaming && last ? html`<button type="button" @click=${() => this.regenerate(m)}>Regenerate</button>` : nothing}
        ${editable ? html`<button type="button" aria-label="Edit this message" @click=${() => { this._editing = m.id; }}>Edit</button>` : nothing}
      </div>
    </article>`;
  }

  // Numbered sources (knowledge bases): each opens its passage; the answer's [n] links here.
  _renderCitations(citations) {
    return html`<ul class="citations" aria-label="Sources">
      ${citations.map((c, i) => {
        const n = citationIndex(c, i);
        return html`<li data-index=${n}><details><summary>[${n}] ${c.title ?? c.source ?? c.fileName ?? 'source'}${c.page ? ` (page ${c.page})` : ''}</summary>
          <blockquote>${c.snippet ?? c.text ?? c.passage ?? c.content ?? ''}</blockquote></details></li>`;
      })}
    </ul>`;
  }

  _renderNotice() {
    const n = this._notice;
    const error = ['rate_limited', 'budget', 'unavailable', 'auth', 'other'].includes(n.kind);
    return html`<div class="notice ${error ? 'error' : ''}" role=${error ? 'alert' : 'status'} data-kind=${n.kind}>
      <span>${this._noticeText()}</span>
      ${n.kind === 'unavailable' || n.kind === 'other' ? html`<button type="button" @click=${() => { this._notice = null; }}>Dismiss</button>` : nothing}
    </div>`;
  }

  _renderComposer() {
    const s = this._streaming;
    const blocked = this._blocked();
    return html`<form class="composer" @submit=${(e) => { e.preventDefault(); this.send(); }}>
      <textarea aria-label="Message" placeholder="Message the assistant" rows="2" .value=${this.draft}
        @input=${(e) => { this.draft = e.target.value; }} @keydown=${this._onComposerKey}></textarea>
      ${s ? html`<button type="button" class="danger" @click=${() => this.stop()}>Stop</button>`
          : html`<button class="primary" type="submit" ?disabled=${blocked}>Send</button>`}
    </form>
    <div class="hint" aria-hidden="true">${this._live ? 'live' : 'http'} · Enter sends · Shift+Enter new line · Esc stops</div>`;
  }
}

function statusOf(code) {
  return { invalid_request: 400, unauthorized: 401, forbidden: 403, not_found: 404, rate_limited: 429, budget_exceeded: 429, unavailable: 503 }[code] ?? 0;
}

if (!customElements.get('ai-chat')) customElements.define('ai-chat', AiChat);
