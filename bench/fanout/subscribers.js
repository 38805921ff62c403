// One subscriber process of the fan-out bench: opens N WebSockets to a server, subscribes each to
// one job, checks every connection gets every seq once and in order, and measures delivery delay
// (receive time minus the emit time carried in the event). Reports to the parent over IPC.
import { WebSocket } from 'ws';

const [url, jobId, connections, expected, timeoutMs] = process.argv.slice(2);
const N = Number(connections);
const EXPECTED = Number(expected);
// Delay histogram in 0.1 ms buckets up to 2 s (the last bucket takes the rest).
const BUCKETS = 20_001;
const hist = new Uint32Array(BUCKETS);
const now = () => performance.timeOrigin + performance.now();

let open = 0;
let done = 0;
let lost = 0;
let dup = 0;
let received = 0;
const sockets = [];

function finish(reason) {
  for (const ws of sockets) ws.terminate();
  process.send({ type: 'result', reason, hist: Array.from(hist), lost, dup, received, done, connections: N }, () => process.exit(0));
}

// A million messages a second do not leave room for JSON.parse on two cores: read the three
// fields needed by position (both servers send the same shape), parse fully only the last one.
function readEvent(text) {
  if (!text.startsWith('{"type":"event"')) return undefined;
  const seqAt = text.indexOf('"seq":');
  const seq = parseInt(text.slice(seqAt + 6, seqAt + 26), 10);
  if (text.includes('"type":"progress"')) {
    const tAt = text.indexOf('"t":');
    return { seq, type: 'progress', data: { t: parseFloat(text.slice(tAt + 4, tAt + 30)) } };
  }
  return JSON.parse(text).event;
}

// The deadline runs from the parent's 'go' (emission start), not from the connection phase.
let timer;
process.on('message', (m) => {
  if (m === 'go') timer = setTimeout(() => finish('timeout'), Number(timeoutMs));
});
for (let c = 0; c < N; c++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  sockets.push(ws);
  let next = 1;
  let finished = false;
  ws.on('open', () => {
    ws.send(JSON.stringify({ op: 'subscribe', jobId }));
    if (++open === N) process.send({ type: 'ready' });
  });
  ws.on('message', (data) => {
    const e = readEvent(data.toString());
    if (!e) return;
    if (e.seq < next) {
      dup++;
      return;
    }
    if (e.seq > next) lost += e.seq - next;
    next = e.seq + 1;
    if (e.type === 'progress') {
      received++;
      const ms = now() - e.data.t;
      hist[Math.min(BUCKETS - 1, Math.max(0, Math.round(ms * 10)))]++;
    } else if (e.type === 'succeeded' && !finished) {
      finished = true;
      if (e.data.emitted !== undefined && e.data.emitted !== EXPECTED) lost += Math.abs(EXPECTED - e.data.emitted);
      if (++done === N) {
        clearTimeout(timer);
        finish('done');
      }
    }
  });
  ws.on('error', (err) => {
    process.send({ type: 'error', message: err.message });
  });
}
