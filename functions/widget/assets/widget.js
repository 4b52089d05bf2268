/* agentgate website widget: one <script src=".../v1/public/widget.js" data-bot-id="..." async>
 * tag renders a chat bubble and panel in a shadow root. It keeps the visitor id, the
 * conversation id and the last messages in localStorage, streams replies with the UI
 * message stream (x-widget-version: 2), shows action proposals as cards and citations
 * as sources. Nothing else is loaded at run time. */
(() => {
  'use strict';
  const script = document.currentScript;
  const botId = script && script.dataset.botId;
  if (!botId) return;
  const api = script.src.replace(/\/v1\/public\/widget(\/[^/]+\/widget)?\.js(\?.*)?$/, '');
  const key = (k) => `agentgate:${botId}:${k}`;
  const load = (k) => { try { return localStorage.getItem(key(k)); } catch { return null; } };
  const save = (k, v) => { try { if (v == null) localStorage.removeItem(key(k)); else localStorage.setItem(key(k), v); } catch { /* private mode */ } };
  const MAX_KEPT = 50;
  let visitorId = load('visitor');
  if (!visitorId) {
    visitorId = 'v_' + (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
    save('visitor', visitorId);
  }
  let conversationId = load('conversation');
  let kept = [];
  try { kept = JSON.parse(load('log') || '[]'); } catch { kept = []; }
  const keep = () => save('log', JSON.stringify(kept.slice(-MAX_KEPT)));

  const host = document.createElement('div');
  host.setAttribute('data-agentgate-widget', botId);
  const root = host.attachShadow({ mode: 'open' });
  root.innerHTML = `<style>
    :host { all: initial; }
    * { box-sizing: border-box; font: 15px/1.4 system-ui, sans-serif; }
    .bubble { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%;
      border: 0; background: var(--accent); color: #fff; cursor: pointer; box-shadow: 0 4px 14px #0003; z-index: 2147483000; }
    .bubble:focus-visible, button:focus-visible, textarea:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
    .panel { position: fixed; right: 20px; bottom: 88px; width: min(380px, calc(100vw - 40px)); height: min(560px, calc(100vh - 120px));
      display: flex; flex-direction: column; background: #fff; color: #1c1c1c; border-radius: 12px; box-shadow: 0 8px 30px #0004; z-index: 2147483000; overflow: hidden; }
    .panel[hidden] { display: none; }
    header { display: flex; align-items: center; justify-content: space-between; padding: 10px 14px; background: var(--accent); color: #fff; }
    h2 { margin: 0; font-weight: 600; }
    header button { background: none; border: 0; color: #fff; font-size: 22px; cursor: pointer; }
    ol { list-style: none; margin: 0; padding: 12px; overflow-y: auto; flex: 1; display: flex; flex-direction: column; gap: 8px; }
    li { max-width: 85%; padding: 8px 11px; border-radius: 10px; white-space: pre-wrap; word-wrap: break-word; }
    li.user { align-self: flex-end; background: var(--accent); color: #fff; }
    li.assistant { align-self: flex-start; background: #f0f0f3; }
    li.card { align-self: stretch; max-width: none; background: #fff; border: 1px solid #ccd; }
    .card strong { display: block; font-weight: 600; }
    .card .buttons { display: flex; gap: 8px; margin-top: 6px; }
    .card button, form button { border: 0; border-radius: 6px; padding: 6px 12px; background: var(--accent); color: #fff; cursor: pointer; }
    .card button.secondary { background: #e4e4ea; color: #1c1c1c; }
    .sources { margin: 6px 0 0; padding: 0; font-size: 13px; }
    .sources li { padding: 0; max-width: none; background: none; }
    .sources a { color: inherit; }
    .notice { margin: 0; padding: 8px 14px; background: #fff6dd; color: #5a4500; }
    form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e4e4ea; }
    textarea { flex: 1; resize: none; border: 1px solid #ccd; border-radius: 6px; padding: 6px 8px; }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  </style>
  <button class="bubble" type="button" aria-label="Open chat" aria-expanded="false" aria-controls="agentgate-panel">
    <svg width="26" height="26" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M4 4h16v12H7l-3 3z"/></svg>
  </button>
  <section class="panel" id="agentgate-panel" role="dialog" aria-modal="false" aria-labelledby="agentgate-title" hidden>
    <header><h2 id="agentgate-title">Chat</h2><button type="button" class="close" aria-label="Close chat">×</button></header>
    <ol class="log" role="log" aria-live="polite" aria-relevant="additions text"></ol>
    <p class="notice" role="status" hidden></p>
    <form><label class="sr" for="agentgate-input">Message</label>
      <textarea id="agentgate-input" rows="2" maxlength="4000" placeholder="Type a message"></textarea>
      <button type="submit">Send</button></form>
  </section>`;
  const $ = (s) => root.querySelector(s);
  const bubble = $('.bubble'), panel = $('.panel'), log = $('.log'), notice = $('.notice');
  const form = $('form'), input = $('textarea'), send = $('form button');
  host.style.setProperty('--accent', '#2f5bea');

  const open = (show) => {
    panel.hidden = !show;
    bubble.setAttribute('aria-expanded', String(show));
    bubble.setAttribute('aria-label', show ? 'Close chat' : 'Open chat');
    if (show) input.focus(); else bubble.focus();
  };
  bubble.addEventListener('click', () => open(panel.hidden));
  $('.close').addEventListener('click', () => open(false));
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') open(false); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });

  const say = (text) => { notice.textContent = text; notice.hidden = !text; };
  const scroll = () => { log.scrollTop = log.scrollHeight; };
  const line = (role, text) => {
    const li = document.createElement('li');
    li.className = role;
    li.textContent = text;
    log.appendChild(li);
    scroll();
    return li;
  };
  const sources = (li, citations) => {
    const list = document.createElement('ol');
    list.className = 'sources';
    list.setAttribute('aria-label', 'Sources');
    citations.forEach((c, i) => {
      const item = document.createElement('li');
      const label = `[${i + 1}] ${c.title}`;
      if (c.url && /^https?:\/\//.test(c.url)) {
        const a = document.createElement('a');
        a.href = c.url; a.target = '_blank'; a.rel = 'noopener noreferrer'; a.textContent = label;
        item.appendChild(a);
      } else item.textContent = label;
      item.title = c.snippet || '';
      list.appendChild(item);
    });
    li.appendChild(list);
  };
  const report = async (p, status, output) => {
    const res = await fetch(`${api}/v1/public/actions/${encodeURIComponent(p.executionId)}/result`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ visitorId, status, output }),
    });
    return res.ok;
  };
  const perform = (p) => {
    const url = p.params && typeof p.params.url === 'string' && /^https?:\/\//.test(p.params.url) ? p.params.url : null;
    if (p.kind === 'open_url' && url) window.open(url, '_blank', 'noopener');
    else if (p.kind === 'navigate' && url) setTimeout(() => window.location.assign(url), 50);
    // Forms and webhooks are the host page's to carry out.
    window.dispatchEvent(new CustomEvent('agentgate:action', { detail: p }));
  };
  const card = (p, entry) => {
    const li = document.createElement('li');
    li.className = 'card';
    const title = document.createElement('strong');
    title.textContent = p.label;
    const text = document.createElement('span');
    text.textContent = p.description;
    const state = document.createElement('p');
    state.setAttribute('role', 'status');
    li.append(title, text, state);
    const settle = async (status) => {
      if (status === 'success') perform(p);
      const ok = await report(p, status);
      entry.state = ok ? (status === 'success' ? 'Done' : 'Cancelled') : 'Could not be completed';
      state.textContent = entry.state;
      li.querySelector('.buttons')?.remove();
      keep();
    };
    if (entry.state) state.textContent = entry.state;
    else if (p.executionMode === 'auto') settle('success');
    else {
      const buttons = document.createElement('div');
      buttons.className = 'buttons';
      const yes = document.createElement('button');
      yes.type = 'button'; yes.textContent = 'Confirm';
      yes.setAttribute('aria-label', `Confirm: ${p.label}`);
      const no = document.createElement('button');
      no.type = 'button'; no.className = 'secondary'; no.textContent = 'Cancel';
      no.setAttribute('aria-label', `Cancel: ${p.label}`);
      yes.addEventListener('click', () => settle('success'));
      no.addEventListener('click', () => settle('cancelled'));
      buttons.append(yes, no);
      li.appendChild(buttons);
    }
    log.appendChild(li);
    scroll();
  };
  const render = (entry) => {
    if (entry.action) return card(entry.action, entry);
    const li = line(entry.role, entry.text);
    if (entry.citations && entry.citations.length) sources(li, entry.citations);
  };
  kept.forEach(render);

  const chunks = async function* (body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const events = buffer.split('\n\n');
      buffer = events.pop() || '';
      for (const raw of events) {
        const data = raw.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!data || data === '[DONE]') continue;
        yield JSON.parse(data);
      }
    }
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const message = input.value.trim();
    if (!message || send.disabled) return;
    input.value = '';
    say('');
    send.disabled = true;
    const mine = { role: 'user', text: message };
    kept.push(mine); keep(); render(mine);
    const reply = { role: 'assistant', text: '' };
    let li = null;
    try {
      const res = await fetch(`${api}/v1/public/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-widget-version': '2' },
        body: JSON.stringify({ botPublicId: botId, visitorId, conversationId, message, hostPageUrl: location.href.slice(0, 2048) }),
      });
      if (res.status === 429) { say('Too many messages for now. Please try again a little later.'); return; }
      if (res.status === 402 || res.status === 503) { say('The assistant is unavailable right now.'); return; }
      if (!res.ok || !res.body) { say('Something went wrong. Please try again.'); return; }
      for await (const c of chunks(res.body)) {
        if (c.type === 'text-delta') {
          reply.text += c.delta;
          if (!li) li = line('assistant', '');
          li.textContent = reply.text;
          scroll();
        } else if (c.type === 'data-citations') {
          reply.citations = c.data;
        } else if (c.type === 'data-action-proposal') {
          reply.actions = (reply.actions || []).concat([c.data]);
        } else if (c.type === 'data-done') {
          conversationId = c.data.conversationId;
          save('conversation', conversationId);
        } else if (c.type === 'error') {
          say('The reply was interrupted. Please try again.');
        }
      }
      if (reply.text) {
        if (!li) li = line('assistant', reply.text);
        if (reply.citations && reply.citations.length) sources(li, reply.citations);
        kept.push({ role: 'assistant', text: reply.text, citations: reply.citations });
      }
      for (const p of reply.actions || []) {
        const entry = { action: p };
        kept.push(entry);
        card(p, entry);
      }
      keep();
    } catch {
      say('The assistant could not be reached. Please try again.');
    } finally {
      send.disabled = false;
    }
  });

  const start = () => {
    document.body.appendChild(host);
    fetch(`${api}/v1/public/bots/${encodeURIComponent(botId)}/config`)
      .then((r) => (r.ok ? r.json() : null))
      .then((cfg) => {
        if (!cfg) return;
        $('#agentgate-title').textContent = cfg.name;
        panel.setAttribute('aria-label', cfg.name);
        if (cfg.color) host.style.setProperty('--accent', cfg.color);
        if (cfg.welcomeMessage && !kept.length) line('assistant', cfg.welcomeMessage);
      })
      .catch(() => {});
  };
  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})();
