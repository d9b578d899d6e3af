// Model output is untrusted: Markdown becomes HTML through marked, code is highlighted by
// highlight.js (which escapes it), and everything then goes through DOMPurify before it reaches
// the DOM. Links open in a new tab without access to this page; only http(s) and mailto survive.
// Seven grammars keep the bundle in its size budget; other code blocks are shown plain.
// A citation mark `[n]` naming one of the answer's sources becomes a link to that source, its title
// and snippet in the tooltip (the component opens the source when it is clicked).
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import cpp from 'highlight.js/lib/languages/cpp';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { Marked } from 'marked';

for (const [name, lang] of Object.entries({ bash, cpp, javascript, json, python, xml, yaml })) {
  hljs.registerLanguage(name, lang);
}
hljs.registerAliases(['ts', 'typescript', 'tsx'], { languageName: 'javascript' });

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    // An image would load from wherever the model says (a tracking pixel, or the network from a
    // page that promises to work offline): it becomes a link instead.
    image({ href, text }) {
      return `<a href="${escapeHtml(href ?? '')}">${escapeHtml(text || href || 'image')}</a>`;
    },
    code({ text, lang }) {
      const language = (lang ?? '').trim().split(/\s+/)[0].toLowerCase();
      const known = language && hljs.getLanguage(language);
      const body = known ? hljs.highlight(text, { language, ignoreIllegals: true }).value : escapeHtml(text);
      const label = known ? escapeHtml(language) : 'text';
      return `<pre data-lang="${label}"><code class="hljs">${body}</code></pre>`;
    },
  },
});

// The sources of the message being rendered (index -> citation): set only for the duration of one
// synchronous marked.parse, so a `[n]` with no such source, or outside a cited answer, stays text.
let citing = null;
marked.use({
  extensions: [{
    name: 'citationRef',
    level: 'inline',
    start(src) { return citing ? src.indexOf('[') : undefined; },
    tokenizer(src) {
      const m = citing && /^\[(\d{1,3})\](?![(\[])/.exec(src);
      if (!m || !citing.has(Number(m[1]))) return undefined;
      return { type: 'citationRef', raw: m[0], index: Number(m[1]) };
    },
    renderer({ index }) {
      const c = citing.get(index);
      const where = c.page ? ` (page ${c.page})` : '';
      const tip = `${c.title ?? 'source'}${where}: ${c.snippet ?? c.text ?? ''}`;
      return `<a href="#source-${index}" class="cite" data-cite="${index}" title="${escapeHtml(tip)}">[${index}]</a>`;
    },
  }],
});

const purifier = DOMPurify();
purifier.setConfig({
  USE_PROFILES: { html: true },  // no SVG or MathML
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
  FORBID_TAGS: ['img', 'style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed'],
  FORBID_ATTR: ['style'],
});
purifier.addHook('afterSanitizeAttributes', (node) => {
  // A citation link stays in the page: the component opens the source it names.
  if (node.tagName === 'A' && !node.hasAttribute('data-cite')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

// The index of a citation as the answer cites it ([n]); older shapes counted from 1.
export const citationIndex = (c, i) => (Number.isInteger(c.index) ? c.index : i + 1);

// Sanitised HTML for a message's Markdown; `citations` (the message's sources) turn its [n] marks
// into links to them.
export function renderMarkdown(text, citations) {
  citing = citations?.length ? new Map(citations.map((c, i) => [citationIndex(c, i), c])) : null;
  try {
    return purifier.sanitize(marked.parse(text ?? '', { async: false }));
  } finally {
    citing = null;
  }
}
