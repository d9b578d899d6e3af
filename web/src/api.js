// The service's HTTP API as the component uses it: JSON calls with the token (asked for again once
// on a 401), and Server-Sent Events read from a POST with fetch + ReadableStream (EventSource can
// neither POST nor send a header). Errors come back as ApiError, whose `kind` says what the user
// can do about it.

export class ApiError extends Error {
  constructor({ status = 0, code = 'network', message = 'The service cannot be reached.', retryAfter = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  // offline | rate_limited | budget | unavailable | auth | other
  get kind() {
    if (this.code === 'network') return 'offline';
    if (this.code === 'budget_exceeded') return 'budget';
    if (this.code === 'rate_limited' || this.status === 429) return 'rate_limited';
    if (this.status === 503 || this.code === 'unavailable') return 'unavailable';
    if (this.status === 401) return 'auth';
    return 'other';
  }
}

async function errorOf(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON: a proxy's page */ }
  const retry = Number(res.headers.get('retry-after'));
  return new ApiError({
    status: res.status,
    code: body?.error?.code ?? `http_${res.status}`,
    message: body?.error?.message ?? `The service answered ${res.status}.`,
    retryAfter: Number.isFinite(retry) && retry > 0 ? retry : null,
  });
}

export class Api {
  // base: the service's origin ('' = this page's); tokens: { get(refresh) -> Promise<string|null> }.
  constructor(base, tokens) {
    this.base = base.replace(/\/$/, '');
    this.tokens = tokens;
  }

  async #fetch(path, init, retried = false) {
    const token = await this.tokens.get(retried);
    const headers = { ...(init.headers ?? {}) };
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(this.base + path, { ...init, headers });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError();
    }
    if (res.status === 401 && !retried && this.tokens.canRefresh()) return this.#fetch(path, init, true);
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  async request(method, path, body, { signal } = {}) {
    const init = { method, signal };
    if (body !== undefined) {
      init.headers = { 'content-type': 'application/json' };
      init.body = JSON.stringify(body);
    }
    const res = await this.#fetch(path, init);
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    return json && typeof json === 'object' && 'success' in json ? json.data : json;
  }

  get(path, opts) { return this.request('GET', path, undefined, opts); }
  post(path, body, opts) { return this.request('POST', path, body ?? {}, opts); }
  patch(path, body) { return this.request('PATCH', path, body); }
  delete(path) { return this.request('DELETE', path); }

  // POSTs `body` with stream: true and calls onEvent(name, data) for each event until the stream
  // ends. Throws ApiError for a refusal (JSON error before the stream) or a broken connection.
  async stream(path, body, onEvent, { signal } = {}) {
    const res = await this.#fetch(path, {
      method: 'POST',
      signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ ...body, stream: true }),
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let ended = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) name = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (!data.length) continue;  // a heartbeat comment
          if (name === 'done' || name === 'error') ended = true;
          onEvent(name, JSON.parse(data.join('\n')));
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError({ message: 'The connection broke while the answer was streaming.' });
    }
    if (!ended) throw new ApiError({ message: 'The connection broke while the answer was streaming.' });
  }
}
