// The component's styles: system colours (light and dark follow prefers-color-scheme), a narrow
// layout below 700 px of the component's own width (a container query, so an embedded chat in a
// sidebar gets it too), and a small highlight.js palette.
import { css } from 'lit';

export const styles = css`
  :host {
    --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --panel: #f6f8fa;
    --accent: #0a58ca; --accent-fg: #ffffff; --user: #e7f0ff; --danger: #b42318; --warn-bg: #fff4d6;
    --code-bg: #f3f4f6; --kw: #a626a4; --str: #2a7e3b; --num: #986801; --com: #6e7781; --fn: #1f5fbf;
    display: block; container-type: inline-size; height: var(--ai-chat-height, 600px);
    font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 8px; overflow: hidden;
  }
  @media (prefers-color-scheme: dark) {
    :host {
      --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d; --panel: #161b22;
      --accent: #4493f8; --accent-fg: #0d1117; --user: #1c2a44; --danger: #ff7b72; --warn-bg: #3a2e0a;
      --code-bg: #161b22; --kw: #d2a8ff; --str: #7ee787; --num: #f2cc60; --com: #8b949e; --fn: #79c0ff;
    }
  }
  :host([full-page]) { position: fixed; inset: 0; height: auto; border: 0; border-radius: 0; }
  * { box-sizing: border-box; }
  button, input, select, textarea { font: inherit; color: inherit; }
  button {
    background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px; cursor: pointer;
    min-height: 32px;
  }
  button:hover:not([disabled]) { border-color: var(--accent); }
  button[disabled] { opacity: .55; cursor: default; }
  button.primary { background: var(--accent); color: var(--accent-fg); border-color: var(--accent); }
  button.danger { color: var(--danger); }
  button.icon { padding: 2px 8px; }
  :focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
  input, select, textarea { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 5px 8px; }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

  .app { display: grid; grid-template-columns: 280px 1fr; grid-template-rows: auto 1fr; height: 100%; }
  header {
    grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 8px 12px;
    border-bottom: 1px solid var(--line); background: var(--panel);
  }
  header h1 { font-size: 16px; margin: 0 auto 0 0; }
  header .usage { color: var(--muted); font-size: 13px; }
  header label { display: flex; gap: 4px; align-items: center; font-size: 13px; color: var(--muted); }
  header select { max-width: 160px; }
  .menu-toggle { display: none; }

  nav { border-right: 1px solid var(--line); display: flex; flex-direction: column; min-height: 0; background: var(--panel); }
  nav .tools { display: flex; flex-direction: column; gap: 6px; padding: 8px; }
  nav .tools .row { display: flex; gap: 6px; align-items: center; font-size: 13px; color: var(--muted); }
  nav .tools input[type=search] { width: 100%; }
  nav ul { list-style: none; margin: 0; padding: 0 4px 8px; overflow-y: auto; flex: 1; }
  nav li { border-radius: 6px; margin: 2px 0; }
  nav li.current { background: var(--user); }
  nav .item { display: flex; align-items: center; gap: 4px; }
  nav .open { flex: 1; text-align: left; background: none; border: 0; overflow: hidden; padding: 6px 8px; min-width: 0; }
  nav .open .title { display: block; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  nav .open .tags { display: block; font-size: 12px; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  nav .actions, nav form.inline { display: flex; flex-wrap: wrap; gap: 4px; padding: 0 8px 8px; }
  nav form.inline input { flex: 1; min-width: 0; }
  nav .empty, nav .loading { color: var(--muted); padding: 8px 12px; font-size: 14px; }

  main { display: flex; flex-direction: column; min-height: 0; min-width: 0; }
  .log { flex: 1; overflow-y: auto; padding: 12px 16px; display: flex; flex-direction: column; gap: 12px; }
  .empty-state { margin: auto; text-align: center; color: var(--muted); max-width: 420px; }
  .msg { max-width: min(760px, 100%); border-radius: 10px; padding: 8px 12px; border: 1px solid var(--line); }
  .msg.user { align-self: flex-end; background: var(--user); }
  .msg.assistant { align-self: flex-start; background: var(--bg); }
  .msg .meta { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; font-size: 12px; color: var(--muted); margin-top: 6px; }
  .msg .meta button { min-height: 26px; font-size: 12px; padding: 1px 8px; }
  .msg .status { color: var(--danger); }
  .msg textarea { width: 100%; min-height: 70px; }
  .md { overflow-wrap: anywhere; }
  .md > :first-child { margin-top: 0; }
  .md > :last-child { margin-bottom: 0; }
  .md a { color: var(--accent); }
  .md pre { position: relative; background: var(--code-bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow-x: auto; }
  .md pre button.copy { position: absolute; top: 4px; right: 4px; min-height: 24px; font-size: 12px; padding: 0 6px; }
  .md code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
  .md :not(pre) > code { background: var(--code-bg); padding: 1px 4px; border-radius: 4px; }
  .md table { border-collapse: collapse; }
  .md th, .md td { border: 1px solid var(--line); padding: 2px 6px; }
  .cursor::after { content: "▍"; animation: blink 1s steps(2) infinite; }
  @keyframes blink { 50% { opacity: 0; } }
  .citations { margin: 8px 0 0; padding-left: 4px; list-style: none; font-size: 13px; }
  .md a.cite { text-decoration: none; font-size: 12px; vertical-align: super; }
  .tools-used { list-style: none; margin: 0 0 6px; padding: 0; display: flex; flex-direction: column; gap: 4px; font-size: 13px; }
  .tool details { border: 1px solid var(--line); border-radius: 6px; padding: 2px 8px; background: var(--panel); }
  .tool.failed details { border-color: var(--danger); }
  .tool summary { cursor: pointer; }
  .tool .tool-name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
  .tool .tool-state { color: var(--muted); }
  .tool-label { color: var(--muted); font-size: 12px; margin-top: 4px; }
  .tool-data { margin: 2px 0 6px; background: var(--code-bg); padding: 6px; border-radius: 4px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 240px; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
  .approval { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-top: 4px; padding: 6px 8px; border-radius: 6px; background: var(--warn-bg); }
  .approval .outcome[data-state=rejected], .approval .outcome[data-state=expired] { color: var(--danger); }
  .kb-picker { font-size: 13px; }
  /* Open, it takes a row of the header (no popover: an embed clips what leaves its box). */
  .kb-picker[open] { flex-basis: 100%; order: 10; }
  .kb-picker summary { cursor: pointer; color: var(--muted); }
  .kb-picker fieldset { margin: 4px 0 0; padding: 6px 8px; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; display: flex; flex-wrap: wrap; gap: 4px 12px; }
  .kb-picker legend { font-size: 12px; color: var(--muted); padding: 0 4px; }
  .kb-picker .row { display: flex; gap: 6px; align-items: center; color: var(--fg); }
  .citations summary { cursor: pointer; color: var(--accent); }
  .citations blockquote { margin: 4px 0; padding-left: 8px; border-left: 3px solid var(--line); color: var(--muted); }

  .notice { margin: 0 16px 8px; padding: 8px 12px; border-radius: 6px; background: var(--warn-bg); border: 1px solid var(--line); display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
  .notice.error { border-color: var(--danger); }
  form.composer { display: flex; gap: 8px; padding: 8px 16px 12px; border-top: 1px solid var(--line); align-items: flex-end; }
  form.composer textarea { flex: 1; resize: none; min-height: 44px; max-height: 200px; }
  .hint { font-size: 12px; color: var(--muted); padding: 0 16px 6px; }

  .signin { grid-column: 1 / -1; margin: auto; max-width: 380px; padding: 24px; display: flex; flex-direction: column; gap: 10px; }
  .signin h2 { margin: 0; font-size: 18px; }
  .signin p { margin: 0; color: var(--muted); font-size: 14px; }

  .hljs-keyword, .hljs-built_in, .hljs-selector-tag, .hljs-literal { color: var(--kw); }
  .hljs-string, .hljs-attr, .hljs-template-tag, .hljs-addition { color: var(--str); }
  .hljs-number, .hljs-symbol, .hljs-variable { color: var(--num); }
  .hljs-comment, .hljs-quote, .hljs-meta { color: var(--com); font-style: italic; }
  .hljs-title, .hljs-function, .hljs-name, .hljs-type, .hljs-class { color: var(--fn); }
  .hljs-deletion { color: var(--danger); }

  @container (max-width: 700px) {
    .app { display: flex; flex-direction: column; }
    main { flex: 1; }
    .menu-toggle { display: inline-block; }
    nav { display: none; border-right: 0; border-bottom: 1px solid var(--line); max-height: 55cqh; }
    nav.open-mobile { display: flex; }
    header select { max-width: 110px; }
    .msg { max-width: 100%; }
    .log { padding: 8px; }
    form.composer { padding: 8px; }
  }
`;
