// One client process of the sockets bench: opens N WebSockets, subscribes each to its share of the
// jobs, reports 'ready' once every subscription is acknowledged, counts the events that arrive and
// reports them on 'stop'; on {live: jobId} every socket follows that job too (then 'ready' again). Args: url, N, jobIds (comma-separated), subscriptions per socket.
import { WebSocket } from 'ws';

const [url, connections, jobList, perSocket] = process.argv.slice(2);
const N = Number(connections);
const jobs = jobList.split(',');
const PER = Number(perSocket);
const sockets = [];
let acked = 0;
let events = 0;
let errors = 0;
let closed = 0;

let expected = N * PER;
process.on('message', (m) => {
  if (typeof m === 'object' && m.live) {
    // Every socket also follows the running job.
    expected += N;
    for (const ws of sockets) ws.send(JSON.stringify({ op: 'subscribe', jobId: m.live }));
    return;
  }
  if (m !== 'stop') return;
  for (const ws of sockets) ws.terminate();
  process.send({ type: 'result', events, errors, closed }, () => process.exit(0));
});

let opened = 0;
function open(c) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  sockets.push(ws);
  ws.on('open', () => {
    for (let k = 0; k < PER; k++) ws.send(JSON.stringify({ op: 'subscribe', jobId: jobs[(c * PER + k) % jobs.length] }));
    // A few sockets at a time, so the connection phase does not flood the server's accept queue.
    if (++opened < N) open(opened);
  });
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('{"type":"event"')) events++;
    else if (text.startsWith('{"type":"subscribed"')) {
      if (++acked === expected) process.send({ type: 'ready' });
    } else if (text.startsWith('{"type":"error"')) {
      errors++;
      if (errors <= 3) process.send({ type: 'error', message: text });
    }
  });
  ws.on('close', () => closed++);
  ws.on('error', (err) => process.send({ type: 'error', message: err.message }));
}
open(0);
