import { LitElement, html } from 'lit';
class AiChat extends LitElement { render() { return html`<p>chat</p>`; } }
customElements.define('ai-chat', AiChat);
