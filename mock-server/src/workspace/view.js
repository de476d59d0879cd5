// The Agent Workspace's view: what the page derives from the agent API's events (whose
// conversation, the "V"s, what is unread) and how it draws it. All text from the wire goes in
// through textContent, never as HTML.

export const $ = (id) => document.getElementById(id);

// The page's state and the actions the view's buttons call (bound by app.js).
let state = null;
let actions = null;

export function bindView(s, a) {
  state = s;
  actions = a;
}

// ---------- derived state ----------

export function role(e) {
  return (e.originatorMetadata && e.originatorMetadata.role) || '';
}

export function isMine(c) {
  if (!c || !state.me) return false;
  const has = (r) => (c.pids[r] || []).includes(state.me.userPid);
  return has('ASSIGNED_AGENT') || has('MANAGER');
}

function isAssigned(c) {
  return (c.pids.ASSIGNED_AGENT || []).length > 0;
}

function sorted(conv) {
  const all = [...(state.events.get(conv) || new Map()).values()];
  return all.sort((a, b) => (a.serverTimestamp - b.serverTimestamp) || (a.sequence - b.sequence));
}

// The consumer's receipts for an agent message: READ beats ACCEPT whatever their order.
function receiptStatus(events, message) {
  let status = 'sent';
  for (const e of events) {
    const ev = e.event;
    if (ev.type !== 'AcceptStatusEvent' || role(e) !== 'CONSUMER' || e.dialogId !== message.dialogId) continue;
    if (!(ev.sequenceList || []).includes(message.sequence)) continue;
    if (ev.status === 'READ') status = 'read';
    else if (ev.status === 'ACCEPT' && status === 'sent') status = 'accepted';
  }
  return status;
}

function readByMe(events, message) {
  return events.some((e) => e.event.type === 'AcceptStatusEvent' && e.event.status === 'READ'
    && e.originatorPId === state.me.userPid && e.dialogId === message.dialogId
    && (e.event.sequenceList || []).includes(message.sequence));
}

export function unread(conv) {
  const events = sorted(conv);
  return events.filter((e) => e.event.type === 'ContentEvent' && role(e) === 'CONSUMER' && !readByMe(events, e));
}

// ---------- rendering ----------

const LABEL = {sent: 'Sent', accepted: 'Delivered', read: 'Read'};

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function time(ms) {
  return ms ? new Date(ms).toLocaleTimeString() : '';
}

function short(id) {
  return id ? String(id).slice(0, 8) : '?';
}

// The markup each list was last drawn with.
const drawn = new WeakMap();

// Replaces a list's items, keeping keyboard focus on the element with the same key. A list
// whose markup would not change is left alone, so a redraw does not take away the element a
// person is hovering, selecting text in or tabbing through. Returns whether it was redrawn.
function replaceItems(list, items) {
  const markup = items.map((item) => item.outerHTML).join('');
  if (drawn.get(list) === markup) return false;
  drawn.set(list, markup);
  const active = document.activeElement;
  const key = active && list.contains(active) ? active.dataset.key : null;
  list.replaceChildren(...items);
  if (key) {
    const again = list.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
  return true;
}

function convItem(conv, label, extra) {
  const current = state.open === conv ? 'true' : 'false';
  const open = el('button', {type: 'button', class: 'open', 'data-key': `open:${conv}`, onclick: () => actions.openConversation(conv, false)},
    `Conversation ${short(conv)}`, el('small', {text: label}));
  return el('li', {class: 'conv', 'aria-current': current, 'data-conversation': conv}, open, extra);
}

function renderLists() {
  const waiting = [];
  const mine = [];
  const others = [];
  const closed = [];
  const seen = new Set();
  for (const [conv, ring] of state.rings) {
    seen.add(conv);
    const button = el('button', {type: 'button', class: 'accept', 'data-key': `accept:${conv}`, 'aria-describedby': `ring-${conv}`, onclick: () => actions.accept(conv)}, 'Accept');
    const item = convItem(conv, `ringing · consumer ${short(ring.consumerId)}`, button);
    item.querySelector('small').id = `ring-${conv}`;
    waiting.push(item);
  }
  const convs = [...state.convs.values()].sort((a, b) => (b.startTs || 0) - (a.startTs || 0));
  for (const c of convs) {
    if (seen.has(c.id)) continue;
    const consumer = short((c.pids.CONSUMER || [])[0]);
    if (c.state === 'CLOSE') closed.push(convItem(c.id, `closed${c.closeReason ? ` by ${c.closeReason}` : ''} · consumer ${consumer}`));
    else if (isMine(c)) mine.push(convItem(c.id, `yours · consumer ${consumer} · ${unread(c.id).length} unread`));
    else if (isAssigned(c)) others.push(convItem(c.id, `another agent's · consumer ${consumer} (read-only)`));
    else waiting.push(convItem(c.id, `in the queue · consumer ${consumer}`));
  }
  for (const [name, items] of [['waiting', waiting], ['mine', mine], ['others', others], ['closed', closed]]) {
    replaceItems($(name), items);
    $(`${name}-count`).textContent = String(items.length);
  }
  $('waiting-empty').hidden = waiting.length > 0;
}

function renderConversation() {
  const conv = state.open;
  const c = state.convs.get(conv);
  const mine = isMine(c) && c.state !== 'CLOSE';
  $('conversation-title').textContent = conv ? `Conversation ${short(conv)}` : 'No conversation open';
  $('conversation-info').textContent = !conv ? 'Accept a waiting conversation, or pick one from the list.'
    : `${conv} · ${c ? c.state : 'OPEN'} · ${mine ? 'you are the agent'
      : state.rings.has(conv) ? 'ringing: Accept it in the list to answer' : 'read-only'}`;
  $('message').disabled = !mine;
  if (mine && state.focusComposer) {
    state.focusComposer = false;
    $('message').focus();
  }
  $('send').disabled = !mine;
  $('close-conversation').disabled = !mine;
  $('mark-read').disabled = !mine || unread(conv).length === 0;

  const events = conv ? sorted(conv) : [];
  const items = [];
  for (const e of events) {
    if (e.event.type !== 'ContentEvent') continue;
    const agent = role(e) !== 'CONSUMER';
    const text = typeof e.event.message === 'string' ? e.event.message : JSON.stringify(e.event.message);
    const who = agent ? (e.originatorPId === (state.me && state.me.userPid) ? 'You' : `Agent ${short(e.originatorPId)}`) : 'Consumer';
    const attrs = {class: agent ? 'msg agent' : 'msg consumer', title: `sequence ${e.sequence}`, 'data-sequence': String(e.sequence), 'data-dialog': e.dialogId};
    const meta = el('span', {class: 'meta'}, el('time', {text: time(e.serverTimestamp)}));
    if (agent) {
      const status = receiptStatus(events, e);
      attrs['data-status'] = status;
      attrs['aria-label'] = `${who}: ${text}. ${LABEL[status]}`;
      const ticks = el('span', {class: 'ticks', 'data-status': status, role: 'img', 'aria-label': LABEL[status], title: `${LABEL[status]} · sequence ${e.sequence}`},
        el('span', {class: 'tick', text: 'V'}), status === 'sent' ? null : el('span', {class: 'tick', text: 'V'}));
      meta.append(ticks);
    } else if (mine && !readByMe(events, e)) {
      attrs.class += ' unread';
    }
    items.push(el('li', attrs, el('span', {class: 'who', text: who}), el('span', {class: 'text', text}), meta));
  }
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const before = list.childElementCount;
  if (replaceItems(list, items) && (atBottom || items.length !== before)) list.scrollTop = list.scrollHeight;
  $('typing').textContent = conv && state.typing.get(conv) === 'COMPOSING' ? 'The consumer is typing…' : '';
}

export function renderVerdicts() {
  const conv = state.open;
  const c = state.convs.get(conv);
  const dialogs = new Set([conv, ...(c ? c.dialogs.map((d) => d.id) : [])]);
  const items = [];
  const records = [...state.receipts.values()].filter((r) => !r.side && dialogs.has(r.dialogId));
  records.sort((a, b) => a.index - b.index);
  for (const r of records) {
    const verdict = r.verdict === 'valid' ? 'valid' : r.verdict === 'invalid' ? 'invalid' : 'warning';
    const words = {valid: 'valid', warning: 'valid with warnings', invalid: 'invalid'}[verdict];
    const head = el('p', {}, el('span', {class: 'label', text: words}), ` · ${r.status || '?'} [${(r.sequenceList || []).join(', ')}] · request ${r.requestId}`);
    const findings = (r.findings || []).map((f) => el('p', {class: 'finding'},
      el('span', {class: 'rule', text: f.rule}), ` (${f.severity}): ${f.message}`));
    items.push(el('li', {class: 'verdict', 'data-verdict': verdict, 'data-index': String(r.index)}, head, ...findings));
  }
  replaceItems($('verdicts'), items);
}

export function render() {
  renderLists();
  renderConversation();
  renderVerdicts();
}

export function status(text) {
  $('connection').textContent = text;
}

export function report(err) {
  status(err.message || String(err));
}
