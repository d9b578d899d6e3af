// The agent's steps as the chat shows them (docs/agent.md): each tool call collapsed to its name and
// state, expandable to its arguments and its result or error; a call that needs the user's approval
// (tool_confirmation) gets Approve / Reject buttons and then says what became of it. The same
// items are built from the stream's events (tool_call, tool_confirmation, tool_result; SSE or
// Socket.IO) and from the stored conversation (an assistant step's toolCalls and the `tool`
// messages that answer them). Everything shown is the model's or a tool's text: rendered by Lit as
// text, never parsed as HTML.
import { html, nothing } from 'lit';

// The service's own words for a call that was not made (src/agent/agent_loop.cpp).
const REJECTED = 'the user rejected this call';
const EXPIRED = 'the user did not approve this call in time';
const STOPPED = 'the turn was stopped before this call was approved';

function pretty(value) {
  if (typeof value !== 'string') return JSON.stringify(value, null, 2);
  try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
}

// What became of a call that asked for approval, once its result is known.
function settled(item) {
  if (!item.isError) return 'approved';
  if (item.result.includes(REJECTED)) return 'rejected';
  if (item.result.includes(EXPIRED)) return 'expired';
  if (item.result.includes(STOPPED)) return 'stopped';
  // Approved, then the tool itself failed: the call was made.
  return 'approved';
}

// Applies one stream event to `items` (an array of calls, changed in place). true: it was a tool event.
export function applyToolEvent(items, name, data) {
  if (name !== 'tool_call' && name !== 'tool_confirmation' && name !== 'tool_result') return false;
  let item = items.find((t) => t.callId === data.callId);
  if (!item) {
    item = { callId: data.callId, name: data.name, arguments: data.arguments ?? {} };
    items.push(item);
  }
  if (name === 'tool_confirmation') {
    item.arguments = data.arguments ?? item.arguments;
    item.confirm = { state: 'pending', expiresAt: Date.parse(data.expiresAt) };
  } else if (name === 'tool_result') {
    item.result = String(data.result ?? '');
    item.isError = !!data.isError;
    if (item.confirm) item.confirm = { expiresAt: item.confirm.expiresAt, state: settled(item) };
  }
  return true;
}

// The calls of a stored conversation: per assistant step, its calls with the results of the
// `tool` messages that answer them (a Map from message id to items). `pending`: the confirmations
// still waiting (GET .../tool-calls/pending, after a reload), a Map from call id to the item's
// `confirm` state (kept there, so an answer in progress survives the next render).
export function storedToolCalls(messages, pending = new Map()) {
  const results = new Map();
  for (const m of messages) if (m.role === 'tool' && m.toolCallId) results.set(m.toolCallId, m);
  const byMessage = new Map();
  for (const m of messages) {
    if (m.role !== 'assistant' || !m.toolCalls?.length) continue;
    byMessage.set(m.id, m.toolCalls.map((c) => {
      const r = results.get(c.id);
      const item = { callId: c.id, name: c.function?.name ?? '', arguments: c.function?.arguments ?? '' };
      if (r) {
        item.result = r.content ?? '';
        item.isError = !!r.metadata?.isError;
        if (item.isError && [REJECTED, EXPIRED, STOPPED].some((t) => item.result.includes(t))) item.confirm = { state: settled(item) };
      } else if (pending.has(c.id)) {
        item.confirm = pending.get(c.id);
      }
      return item;
    }));
  }
  return byMessage;
}

const OUTCOME = {
  approving: 'Approved: running…',
  approved: 'Approved: the call was made.',
  rejecting: 'Rejecting…',
  rejected: 'Rejected: the call was not made.',
  expired: 'Not approved in time: the call was not made.',
  stopped: 'Stopped: the call was not made.',
};

function stateLabel(t, now) {
  if (t.confirm?.state === 'pending' && t.result === undefined) {
    const left = Math.max(0, Math.ceil((t.confirm.expiresAt - now) / 1000));
    return Number.isFinite(left) ? `waiting for your approval (${left} s left)` : 'waiting for your approval';
  }
  if (t.result === undefined) return 'running…';
  if (t.confirm && t.confirm.state !== 'approved') return t.confirm.state === 'rejected' || t.confirm.state === 'stopped' ? t.confirm.state : 'not approved';
  return t.isError ? 'error' : 'done';
}

// One call: collapsed (name and state), open to its arguments and result; the approval box when
// it asks for one. `decide(item, approve)` answers it.
function renderTool(t, { now, decide }) {
  const state = stateLabel(t, now);
  const waiting = t.confirm?.state === 'pending' && t.result === undefined;
  return html`<li class="tool ${t.isError ? 'failed' : ''}" data-call=${t.callId}>
    <details ?open=${waiting}>
      <summary><span class="tool-name">${t.name}</span> <span class="tool-state">${state}</span></summary>
      <div class="tool-label">Arguments</div>
      <pre class="tool-data">${pretty(t.arguments)}</pre>
      ${t.result !== undefined ? html`<div class="tool-label">${t.isError ? 'Error' : 'Result'}</div>
        <pre class="tool-data">${pretty(t.result)}</pre>` : nothing}
    </details>
    ${t.confirm ? html`<div class="approval" role="group" aria-label=${`Approval for ${t.name}`}>
      ${waiting ? html`<span>Run <code>${t.name}</code>? It waits for you.</span>
        ${t.confirm.error ? html`<span role="alert">${t.confirm.error}</span>` : nothing}
        <button type="button" class="primary" @click=${() => decide(t, true)}>Approve</button>
        <button type="button" class="danger" @click=${() => decide(t, false)}>Reject</button>`
        : html`<span role="status" class="outcome" data-state=${t.confirm.state}>${t.confirm.error ?? OUTCOME[t.confirm.state] ?? ''}</span>`}
    </div>` : nothing}
  </li>`;
}

export function renderToolCalls(items, options) {
  if (!items?.length) return nothing;
  return html`<ul class="tools-used" aria-label="Tool calls">${items.map((t) => renderTool(t, options))}</ul>`;
}

// Whether a stored conversation's latest step has calls no `tool` message answers yet (one may be
// waiting for the user's approval: worth asking the service).
export function hasUnansweredCalls(messages) {
  const step = messages.findLast((m) => m.role === 'assistant' && m.toolCalls?.length);
  if (!step) return false;
  const answered = new Set(messages.filter((m) => m.role === 'tool').map((m) => m.toolCallId));
  return step.toolCalls.some((c) => !answered.has(c.id));
}

export const hasPendingApproval = (items) => !!items?.some((t) => t.confirm?.state === 'pending' && t.result === undefined);
