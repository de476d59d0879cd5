// A header-less browser-style client on Node's `ws`: no Authorization header, the API
// reference's InitConnection sent exactly as printed (no `kind`, no `id`), then a request that
// needs authentication. Prints every frame it receives as one JSON line; exits 0 once the
// conversation is created, 1 on a close, an error or after 5 s.
//
// Usage: node header_less_init.js URL CA_FILE JWT   (NODE_PATH must find `ws`)
'use strict';
const fs = require('fs');
const WebSocket = require('ws');
if (!WebSocket.WebSocketServer) { console.error('ws 8 expected, got an older ws'); process.exit(1); }

const [url, caFile, jwt] = process.argv.slice(2);
const ws = new WebSocket(url, { ca: fs.readFileSync(caFile) });
const timer = setTimeout(() => { console.error('timed out'); process.exit(1); }, 5000);

ws.on('open', () => {
  ws.send(`{"type": "InitConnection","headers":[{"type":".ams.headers.ClientProperties","deviceFamily":"DESKTOP","os":"WINDOWS"},{"type":".ams.headers.ConsumerAuthentication","jwt":"${jwt}"}]}`);
});
ws.on('message', (data) => {
  const frame = JSON.parse(data.toString());
  console.log(JSON.stringify(frame));
  if (frame.kind === 'resp' && frame.reqId === '0' && frame.code === 200) {
    ws.send('{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}');
  }
  if (frame.kind === 'resp' && frame.reqId === '1') {
    clearTimeout(timer);
    ws.close(1000);
    process.exitCode = frame.code === 200 ? 0 : 1;
  }
});
ws.on('close', (code) => { if (process.exitCode === undefined) { console.error(`closed ${code}`); process.exit(1); } });
ws.on('error', (err) => { console.error(String(err)); process.exit(1); });
