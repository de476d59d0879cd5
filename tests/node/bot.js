// The project's own bot on LivePerson's node-agent-sdk 1.2.0, modelled on the SDK's examples
// (examples/agent-bot, examples/greeting-bot of the v1.2.0 tag), for the integration tests.
// It logs in through CSDS and agentVep exactly as the SDK does, then, by MODE:
//   echo     ONLINE, subscribes to its conversations and to routing tasks, accepts every ring,
//            greets, READs and echoes every consumer message (the agent-bot example)
//   greet    AWAY, subscribes to every open conversation, joins as MANAGER and greets
//            (the greeting-bot example)
//   reconnect  as greet, and on `closed` calls `agent.reconnect()` as the greeting-bot example
//            does (a new login, a new socket; `connected` says whether the token is new)
//   refresh  logs in with a short refresh interval and reports the refreshes that succeeded
//   login    logs in and reports `connected` (or the SDK's error)
// Every event it sees is printed as one JSON line on stdout, for the test to read.
//
// Usage: node bot.js MODE ACCOUNT USER PASSWORD CSDS_DOMAIN
// (NODE_PATH must find node-agent-sdk; NODE_EXTRA_CA_CERTS must name the mock's CA file.)
'use strict';
const { Agent } = require('node-agent-sdk');

const [mode, accountId, username, password, csdsDomain] = process.argv.slice(2);
const say = (event, fields) => console.log(JSON.stringify(Object.assign({ event }, fields || {})));

const conf = { accountId, username, password, csdsDomain };
if (mode === 'refresh') conf.refreshSessionInterval = 200;
const agent = new Agent(conf);
const mine = {};
const greets = mode === 'greet' || mode === 'reconnect';
let lastToken;

agent.on('connected', () => {
  // Whether this socket came with a token other than the last one's (never the token itself).
  const token = agent.transport && agent.transport.configuration.token;
  say('connected', { agentId: agent.agentId, newToken: lastToken !== undefined && token !== lastToken });
  lastToken = token;
  if (mode === 'echo') {
    agent.setAgentState({ availability: 'ONLINE' });
    agent.subscribeExConversations({ agentIds: [agent.agentId], convState: ['OPEN'] });
    agent.subscribeRoutingTasks({}, (err) => say('routing', { ok: !err }));
  } else if (greets) {
    agent.setAgentState({ availability: 'AWAY' });
    agent.subscribeExConversations({ convState: ['OPEN'] }, (err) => say('subscribed', { ok: !err }));
  } else if (mode === 'refresh') {
    // The SDK refreshes every 200 ms; each success schedules the next one, a failure emits
    // `error`. Three intervals without an error are three accepted refreshes.
    setTimeout(() => say('refreshed', { ok: true }), 1000);
  }
});

agent.on('routing.RoutingTaskNotification', (body) => {
  body.changes.forEach((c) => {
    (c.result.ringsDetails || []).forEach((r) => {
      if (c.type === 'UPSERT' && r.ringState === 'WAITING') {
        say('ring', { ringId: r.ringId, conversationId: c.result.conversationId });
        agent.updateRingState({ ringId: r.ringId, ringState: 'ACCEPTED' },
          (err) => say('accepted', { ok: !err, error: err ? String(err.message || err) : undefined }));
      }
    });
  });
});

agent.on('cqm.ExConversationChangeNotification', (body) => {
  body.changes.forEach((change) => {
    const convId = change.result.convId;
    if (change.type !== 'UPSERT' || mine[convId]) return;
    const participants = change.result.conversationDetails.participants;
    const me = participants.find((p) => p.id === agent.agentId);
    if (mode === 'echo' && me) {
      mine[convId] = true;
      const consumer = participants.find((p) => p.role === 'CONSUMER');
      agent.getUserProfile(consumer.id, (err, profile) => {
        say('profile', { ok: !err, profile });
        agent.publishEvent({
          dialogId: convId,
          event: { type: 'ContentEvent', contentType: 'text/plain', message: 'hello from the bot' },
        });
      });
      agent.subscribeMessagingEvents({ dialogId: convId });
      say('joined', { convId, role: me.role });
    } else if (greets && !me) {
      mine[convId] = true;
      agent.updateConversationField({
        conversationId: convId,
        conversationField: [{ field: 'ParticipantsChange', type: 'ADD', role: 'MANAGER' }],
      }, (err) => {
        say('joined', { convId, role: 'MANAGER', ok: !err });
        agent.publishEvent({
          dialogId: convId,
          event: { type: 'ContentEvent', contentType: 'text/plain', message: 'welcome from bot' },
        });
      });
    }
  });
});

const handled = {};
agent.on('ms.MessagingEventNotification', (body) => {
  body.changes.forEach((c) => {
    if (!mine[c.dialogId]) return;
    const ev = c.event;
    say('message', {
      dialogId: c.dialogId, sequence: c.sequence, originatorId: c.originatorId,
      type: ev.type, message: ev.message, status: ev.status, sequenceList: ev.sequenceList,
      mine: c.originatorId === agent.agentId,
    });
    const key = `${c.dialogId}-${c.sequence}`;
    if (mode === 'echo' && ev.type === 'ContentEvent' && c.originatorId !== agent.agentId && !handled[key]) {
      handled[key] = true;
      agent.publishEvent({
        dialogId: c.dialogId,
        event: { type: 'AcceptStatusEvent', status: 'READ', sequenceList: [c.sequence] },
      });
      agent.publishEvent({
        dialogId: c.dialogId,
        event: { type: 'ContentEvent', contentType: 'text/plain', message: `echo : ${ev.message}` },
      });
    }
  });
});

agent.on('error', (err) => say('error', { message: String(err && err.message !== undefined ? JSON.stringify(err.message) : err), code: err && err.code }));
agent.on('closed', (code) => {
  say('closed', { code });
  // The greeting-bot example: "regenerate token for reasons of authorization (4401 || 4407)".
  if (mode === 'reconnect') agent.reconnect();
});
