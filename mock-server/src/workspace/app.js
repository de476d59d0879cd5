// The Agent Workspace: one more agent client of the mock, speaking the agent API exactly as
// node-agent-sdk does (CSDS, agentVep login, the agent socket with the bearer in its path).
// The bearer and csrf live in this module's memory only: never in storage, cookies set by
// this script, or any URL the browser keeps (the socket URL is not a navigation).
// Rendering is in view.js. Decisions: docs/workspace.md.

import {$, bindView, isMine, render, renderVerdicts, report, role, status, unread} from './view.js';

const params = new URLSearchParams(location.search);
const meta = document.querySelector('meta[name="wiretape-account"]');

const REQUEST_TIMEOUT_MS = 10000;
const POLL_MS = 1000;
const CLOCK_MS = 30000;
const REFRESH_MS = 10 * 60 * 1000;
const TYPING_IDLE_MS = 3000;

const state = {
  account: '',
  availability: params.get('availability') === 'AWAY' ? 'AWAY' : 'ONLINE',
  me: null, // {userId, userPid, oldId}
  hosts: null, // {agentVep, asyncMessagingEnt}
  ws: null,
  nextId: 1,
  pending: new Map(), // request id -> {resolve, reject, timer}
  rings: new Map(), // conversation id -> {ringId, consumerId}
  convs: new Map(), // conversation id -> details
  dialogs: new Map(), // dialog id -> conversation id
  events: new Map(), // conversation id -> Map("dialog:sequence" -> event)
  typing: new Map(), // conversation id -> consumer chat state
  open: null, // the conversation shown
  receipts: new Map(), // journal index -> receipt record
  nextReceipt: 0,
  composing: null, // timer of the agent's own COMPOSING state
  focusComposer: false, // put the focus in the message box once it can be typed in
};
// Kept apart from `state` so that no debugging dump of state shows them.
let bearer = null;
let csrf = null;

// ---------- HTTP: CSDS, login, refresh, logout, receipts (same origin only) ----------

async function getJson(path) {
  const res = await fetch(path, {headers: {Accept: 'application/json'}, cache: 'no-store'});
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

async function pickAccount() {
  const asked = params.get('account');
  if (asked) return asked;
  if (meta.dataset.pinned === 'yes') return meta.content;
  try {
    const all = await getJson('/mock/api/conversations');
    if (all.length) return all[all.length - 1].account || meta.content;
  } catch (err) {
    // The control API is on the same rule as this page; fall back to the default account.
  }
  return meta.content;
}

async function discover(account) {
  const csds = await getJson(`/api/account/${encodeURIComponent(account)}/service/baseURI.json?version=1.0`);
  const host = (service) => (csds.baseURIs.find((b) => b.service === service) || {}).baseURI;
  return {agentVep: host('agentVep') || location.host, asyncMessagingEnt: host('asyncMessagingEnt') || location.host};
}

function origin(host) {
  return `${location.protocol}//${host}`;
}

async function login(username, password) {
  const url = `${origin(state.hosts.agentVep)}/api/account/${encodeURIComponent(state.account)}/login?v=1.3`;
  const res = await fetch(url, {
    method: 'POST',
    headers: {'Content-Type': 'application/json', Accept: 'application/json'},
    body: JSON.stringify({username, password}),
    cache: 'no-store',
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || body.error || !body.bearer) {
    throw new Error((body.error && body.error.message) || `login failed (HTTP ${res.status})`);
  }
  bearer = body.bearer;
  csrf = body.csrf;
  const userId = String(body.config.userId);
  state.me = {userId, userPid: body.config.userPid, oldId: `${state.account}.${userId}`};
}

function sessionCall(what, keepalive) {
  if (!csrf) return Promise.resolve();
  const url = `${origin(state.hosts.agentVep)}/api/account/${encodeURIComponent(state.account)}/${what}?v=1.3`;
  return fetch(url, {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({csrf}),
    keepalive,
    cache: 'no-store',
  });
}

// ---------- the agent socket ----------

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const path = `/ws_api/account/${encodeURIComponent(state.account)}/messaging/brand/${encodeURIComponent(bearer)}?v=2.1`;
  const ws = new WebSocket(`${scheme}://${state.hosts.asyncMessagingEnt}${path}`);
  state.ws = ws;
  let opened = false;
  ws.addEventListener('open', () => {
    opened = true;
    onOpen();
  });
  ws.addEventListener('message', (e) => onFrame(e.data));
  ws.addEventListener('close', () => {
    if (state.ws !== ws) return;
    state.ws = null;
    // Refused at the upgrade: the session is gone (expired, logged out); log in again.
    if (!opened) bearer = null;
    for (const p of state.pending.values()) p.reject(new Error('the socket closed'));
    state.pending.clear();
    status('Disconnected; reconnecting…');
    setTimeout(start, 2000);
  });
}

function request(type, body) {
  return new Promise((resolve, reject) => {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      reject(new Error('not connected'));
      return;
    }
    const id = String(state.nextId++);
    const timer = setTimeout(() => {
      state.pending.delete(id);
      reject(new Error(`${type}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`));
    }, REQUEST_TIMEOUT_MS);
    state.pending.set(id, {resolve, reject, timer});
    state.ws.send(JSON.stringify({kind: 'req', id, type, body}));
  });
}

async function onOpen() {
  status('Setting up…');
  // The routing subscription sends every ring still waiting.
  state.rings.clear();
  try {
    await request('.ams.routing.SetAgentState', {availability: state.availability});
    // Every conversation of the account, open or closed (as greeting-bot subscribes), so the
    // page can list other agents' conversations too.
    await request('.ams.aam.SubscribeExConversations', {convState: ['OPEN', 'CLOSE']});
    await request('.ams.routing.SubscribeRoutingTasks', {});
    status(`Connected to account ${state.account} as ${state.me.oldId}`);
  } catch (err) {
    status(`Setup failed: ${err.message}`);
  }
}

function onFrame(text) {
  let frame;
  try {
    frame = JSON.parse(text);
  } catch (err) {
    return;
  }
  if (frame.kind === 'resp') {
    const p = state.pending.get(String(frame.reqId));
    if (!p) return;
    state.pending.delete(String(frame.reqId));
    clearTimeout(p.timer);
    if (frame.code >= 400) {
      const why = typeof frame.body === 'string' ? frame.body : JSON.stringify(frame.body);
      p.reject(new Error(`refused (${frame.code}): ${why}`));
    } else {
      p.resolve(frame.body);
    }
    return;
  }
  const body = frame.body || {};
  switch (frame.type) {
    case '.ams.routing.RoutingTaskNotification':
      for (const change of body.changes || []) onRing(change);
      break;
    case '.ams.aam.ExConversationChangeNotification':
      for (const change of body.changes || []) onConversation(change);
      openNewest();
      break;
    case '.ams.ms.OnlineEventDistribution':
      onEvent(body);
      break;
    default:
      return;
  }
  render();
}

function onRing(change) {
  const r = change.result || {};
  const ring = (r.ringsDetails || [])[0];
  if (change.type === 'UPSERT' && ring && ring.ringState === 'WAITING') {
    state.rings.set(r.conversationId, {ringId: ring.ringId, consumerId: r.consumerId});
  } else {
    state.rings.delete(r.conversationId);
  }
}

function onConversation(change) {
  const r = change.result || {};
  const id = r.convId;
  if (!id) return;
  if (change.type === 'DELETE') {
    state.convs.delete(id);
    return;
  }
  const d = r.conversationDetails || {};
  const wasMine = isMine(state.convs.get(id));
  const conv = {
    id,
    state: d.state,
    startTs: d.startTs,
    closeReason: d.closeReason,
    pids: d.participantsPId || {},
    dialogs: (d.dialogs || []).map((x) => ({id: x.dialogId, type: x.dialogType, state: x.state})),
  };
  state.convs.set(id, conv);
  for (const dialog of conv.dialogs) state.dialogs.set(dialog.id, id);
  state.dialogs.set(id, id);
  if (isMine(conv) && !wasMine) {
    state.rings.delete(id);
    loadHistory(id);
    if (!state.open || !isMine(state.convs.get(state.open))) openConversation(id, true);
  }
}

// With nothing open, the newest open conversation opens (read-only unless it is the agent's):
// a person watching `wiretape demo --workspace` sees it without a click.
function openNewest() {
  if (state.open) return;
  const open = [...state.convs.values()].filter((c) => c.state !== 'CLOSE');
  open.sort((a, b) => (b.startTs || 0) - (a.startTs || 0));
  if (open.length) openConversation(open[0].id, false);
}

function onEvent(e) {
  const conv = state.dialogs.get(e.dialogId) || e.dialogId;
  const ev = e.event || {};
  if (ev.type === 'ChatStateEvent') {
    if (role(e) === 'CONSUMER') state.typing.set(conv, ev.chatState);
    return;
  }
  if (ev.type === 'ContentEvent' && role(e) === 'CONSUMER') state.typing.delete(conv);
  store(conv, e);
  if (ev.type === 'ContentEvent' && role(e) === 'CONSUMER' && isMine(state.convs.get(conv))) {
    // Delivered to the agent's screen: ACCEPT, as an agent's client does; READ is the agent's
    // own act ("Mark read").
    publish(e.dialogId, {type: 'AcceptStatusEvent', status: 'ACCEPT', sequenceList: [e.sequence]}).catch(report);
  }
}

function store(conv, e) {
  if (typeof e.sequence !== 'number') return;
  if (!state.events.has(conv)) state.events.set(conv, new Map());
  state.events.get(conv).set(`${e.dialogId}:${e.sequence}`, e);
}

async function loadHistory(conv) {
  const c = state.convs.get(conv);
  const dialogs = c && c.dialogs.length ? c.dialogs.map((d) => d.id) : [conv];
  for (const dialogId of dialogs) {
    try {
      const events = await request('.ams.ms.QueryMessages', {dialogId, newerThanSequence: 0});
      for (const e of events || []) store(conv, e);
    } catch (err) {
      report(err);
    }
  }
  render();
}

// ---------- what the agent does ----------

function publish(dialogId, event) {
  return request('.ams.ms.PublishEvent', {dialogId, event});
}

function mainDialog(conv) {
  const c = state.convs.get(conv);
  const main = c && (c.dialogs.find((d) => d.type === 'MAIN' && d.state !== 'CLOSE') || c.dialogs[0]);
  return main ? main.id : conv;
}

async function accept(conv) {
  const ring = state.rings.get(conv);
  if (!ring) return;
  try {
    await request('.ams.routing.UpdateRingState', {ringId: ring.ringId, ringState: 'ACCEPTED'});
    state.rings.delete(conv);
    openConversation(conv, true);
  } catch (err) {
    report(err);
  }
}

async function send() {
  const box = $('message');
  const text = box.value.trim();
  if (!text || !state.open) return;
  try {
    await publish(mainDialog(state.open), {type: 'ContentEvent', contentType: 'text/plain', message: text});
    box.value = '';
    stopComposing();
  } catch (err) {
    report(err);
  }
}

async function markRead() {
  const conv = state.open;
  const byDialog = new Map();
  for (const e of unread(conv)) {
    if (!byDialog.has(e.dialogId)) byDialog.set(e.dialogId, []);
    byDialog.get(e.dialogId).push(e.sequence);
  }
  for (const [dialogId, sequenceList] of byDialog) {
    await publish(dialogId, {type: 'AcceptStatusEvent', status: 'READ', sequenceList}).catch(report);
  }
}

async function closeConversation() {
  const conv = state.open;
  try {
    await request('.ams.cm.UpdateConversationField', {
      conversationId: conv,
      conversationField: [{field: 'ConversationStateField', conversationState: 'CLOSE'}],
    });
  } catch (err) {
    report(err);
  }
}

function composing() {
  if (!isMine(state.convs.get(state.open))) return;
  if (!state.composing) {
    publish(mainDialog(state.open), {type: 'ChatStateEvent', chatState: 'COMPOSING'}).catch(() => {});
  } else {
    clearTimeout(state.composing);
  }
  state.composing = setTimeout(stopComposing, TYPING_IDLE_MS);
}

function stopComposing() {
  if (!state.composing) return;
  clearTimeout(state.composing);
  state.composing = null;
  if (isMine(state.convs.get(state.open))) {
    publish(mainDialog(state.open), {type: 'ChatStateEvent', chatState: 'ACTIVE'}).catch(() => {});
  }
}

function openConversation(conv, focusComposer) {
  state.open = conv;
  state.focusComposer = focusComposer;
  loadHistory(conv);
  render();
}


// ---------- polling: verdicts (the journal), and other agents' conversations ----------

async function poll() {
  try {
    const path = `/mock/api/receipts?account=${encodeURIComponent(state.account)}&since=${state.nextReceipt}`;
    const records = await getJson(path);
    let changed = false;
    for (const r of records) {
      if (state.receipts.has(r.index)) continue;
      state.receipts.set(r.index, r);
      state.nextReceipt = Math.max(state.nextReceipt, r.index + 1);
      changed = true;
    }
    if (changed) renderVerdicts();
  } catch (err) {
    // The next tick tries again.
  }
  // A conversation the page does not take part in gets no events pushed: read its history.
  const c = state.convs.get(state.open);
  if (state.open && state.ws && !isMine(c)) await loadHistory(state.open);
  setTimeout(poll, POLL_MS);
}

// ---------- start ----------

let started = false;

async function start(credentials) {
  try {
    if (!bearer) {
      const [user, password] = credentials || ['workspace-agent', 'workspace'];
      await login(user, password);
    }
    connect();
  } catch (err) {
    bearer = null;
    $('login-form').hidden = false;
    $('login-error').textContent = `${err.message}. Log in with the mock's --agent-login.`;
    $('login-user').focus();
    status('Not logged in');
  }
}

async function main() {
  state.account = await pickAccount();
  $('account').value = state.account;
  $('availability').value = state.availability;
  state.hosts = await discover(state.account);
  wire();
  render();
  await start();
  if (!started) {
    started = true;
    poll();
    setInterval(() => request('.GetClock', {}).catch(() => {}), CLOCK_MS);
    setInterval(() => sessionCall('refresh', false).catch(() => {}), REFRESH_MS);
  }
}

function wire() {
  $('account-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const account = $('account').value.trim();
    if (account && account !== state.account) {
      const next = new URLSearchParams({account});
      if (state.availability === 'AWAY') next.set('availability', 'AWAY');
      location.search = `?${next}`;
    }
  });
  $('availability').addEventListener('change', (e) => {
    state.availability = e.target.value;
    request('.ams.routing.SetAgentState', {availability: state.availability}).catch(report);
  });
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    $('login-form').hidden = true;
    start([$('login-user').value, $('login-password').value]);
    $('login-password').value = '';
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  $('message').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  $('message').addEventListener('input', composing);
  $('mark-read').addEventListener('click', markRead);
  $('close-conversation').addEventListener('click', closeConversation);
  window.addEventListener('pagehide', () => {
    sessionCall('logout', true).catch(() => {});
    bearer = null;
    csrf = null;
  });
}

bindView(state, {accept, openConversation});
main().catch(report);
