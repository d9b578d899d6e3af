#!/usr/bin/env node
// Load generator of the realtime benchmark (bench/realtime/run.sh): the official socket.io-client
// 4.8 (tests/blackbox's pinned copy; nothing installed for the benchmark), WebSocket transport,
// many sockets in this one process. Prints one JSON line per measurement.
//
//   node load.mjs idle   --url URL --secret S --count N --pid PID
//       N sockets of N different users (one room each), connected and authenticated, then left
//       idle (the client answers the service's pings). The service's VmRSS before the first and
//       once all are connected and the RSS has settled: the delta per socket.
//   node load.mjs fanout --url URL --secret S --sockets N --events E [--procs P]
//       [--pid PID: also the service's CPU time per event]
//       N sockets of ONE user, held by P receiver processes (default 4: one process decoding
//       every frame would measure itself); E times, one chat over REST by that user (the offline
//       mock model): its ai-message goes to the room user:<id>, i.e. to all N sockets. Times are
//       taken with the machine's monotonic clock, shared by the processes. Per socket and event:
//       the time from the REST request's write to the socket's receipt (an upper bound: it holds
//       the turn itself, whose own duration is reported as restMs), and from the first socket's
//       receipt to this one's (the fan-out's spread). p50 / p99 / max over all N x E deliveries.
//   node load.mjs cpu    --url URL --secret S --transport socketio|sse --turns T --pid PID
//                        [--model M] [--concurrency C]
//       T streamed turns of the same answer, over ai:chat on a socket or as SSE (POST
//       /api/ai/chat with stream: true): the service's CPU time (utime + stime, /proc/PID/stat)
//       over the whole run divided by the output tokens streamed.
//   node load.mjs summary FILE.jsonl
//       Medians over runs of what run.sh recorded.
import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const blackbox = path.resolve(here, "..", "..", "tests", "blackbox");
const require = createRequire(path.join(blackbox, "package.json"));
const { io } = require("socket.io-client");
const { userToken } = await import(path.join(blackbox, "lib", "jwt.mjs"));

const PATH = "/api/ai/socket.io";
const args = (() => {
  const out = { _: process.argv[2] };
  for (let i = 3; i < process.argv.length; i += 2) out[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
  return out;
})();
const num = (name, def) => (args[name] === undefined ? def : Number(args[name]));
const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms, monotonic
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]);
}
// utime + stime of a process, in ms.
function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);  // fields 14 and 15 of proc(5)
  return (ticks * 1000) / 100;  // USER_HZ is 100 on Linux
}
// Time on a CPU of all the process's threads, in ms, from the scheduler's own accounting
// (/proc/PID/task/*/schedstat, in ns: exact, where /proc/PID/stat counts 10 ms ticks). Threads that
// ended are missing: the service's (I/O threads, blocking pool) live as long as it does.
function schedMs(pid) {
  let ns = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try { ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]); } catch { /* ended */ }
  }
  return ns / 1e6;
}
function quantile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const round = (x, d = 2) => (x === null ? null : Number(x.toFixed(d)));
function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: round(quantile(s, 0.5)), p99: round(quantile(s, 0.99)), max: round(s.at(-1) ?? null) };
}

function connect(url, token) {
  const socket = io(url, { path: PATH, auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (e) => { socket.close(); reject(e); });
  });
}
// Connects `count` sockets, `batch` handshakes at a time; tokenOf(i) gives each its token.
async function connectMany(url, count, tokenOf, batch = 200) {
  const sockets = [];
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    sockets.push(...(await Promise.all(Array.from({ length: n }, (_, k) => connect(url, tokenOf(i + k))))));
  }
  return sockets;
}

function post(url, token, body) {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(new URL("/api/ai/chat", url), {
      method: "POST", agent: false,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (d) => { text += d; }).on("end", () => resolve({ status: res.statusCode, text }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

async function idle() {
  const count = num("count", 10000);
  const pid = num("pid");
  const before = rssKb(pid);
  const t0 = now();
  const sockets = await connectMany(args.url, count, (i) => userToken(args.secret, `bench-idle-${i}`));
  const connectS = (now() - t0) / 1000;
  // Settled: two readings a second apart within 1 % (buffers freed after the handshakes).
  let after = rssKb(pid);
  for (let i = 0; i < 10; ++i) {
    await sleep(1000);
    const r = rssKb(pid);
    const settled = Math.abs(r - after) <= after * 0.01;
    after = r;
    if (settled) break;
  }
  const connectedNow = sockets.filter((s) => s.connected).length;
  for (const s of sockets) s.close();
  console.log(JSON.stringify({
    sockets: count, connected: connectedNow, rssBeforeKb: before, rssAfterKb: after,
    perSocketBytes: Math.round(((after - before) * 1024) / count), connectSeconds: round(connectS),
  }));
}

// The receivers of `fanout`, in --procs child processes (one node process decoding 1,000 sockets'
// frames on one thread measured itself, not the service). Times are process.hrtime (the system's
// monotonic clock, the same in every process on the machine), so the parent compares them with its
// own request time.
async function fanoutReceivers() {
  const n = num("sockets", 250);
  const token = userToken(args.secret, args.user);
  const sockets = await connectMany(args.url, n, () => token);
  let got = null;
  let count = 0;
  let event = -1;
  for (const s of sockets) {
    s.on("ai-message", () => {
      if (!got) return;
      got.push(now());
      if (++count === n) { process.send({ done: event, times: got }); got = null; }
    });
  }
  process.on("message", (m) => {
    if (m.arm !== undefined) { event = m.arm; got = []; count = 0; process.send({ armed: m.arm }); }
    if (m.quit) { for (const s of sockets) s.close(); process.exit(0); }
  });
  process.send({ ready: n });
}

async function fanout() {
  const { fork } = await import("node:child_process");
  const n = num("sockets", 1000);
  const events = num("events", 20);
  const procs = Math.max(1, Math.min(n, num("procs", 4)));
  const user = "bench-fanout";
  const token = userToken(args.secret, user);
  const children = [];
  if (args.receiver === "native") {
    // One bench_fanout_recv process (raw WebSockets read by epoll threads): a receiver that does
    // not itself add the tail. Its line protocol is in bench/realtime/fanout_recv.cpp.
    const { spawn } = await import("node:child_process");
    const readline = await import("node:readline");
    const child = spawn(args["native-bin"], ["--port", new URL(args.url).port, "--token", token, "--sockets", String(n),
      "--threads", String(num("recv-threads", 1))], { stdio: ["pipe", "pipe", "inherit"] });
    child.on("exit", (code) => { if (code) { console.error(`bench_fanout_recv exited with ${code}`); process.exit(1); } });
    const inbox = [];
    let waiting = null;
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const [kind, e, ...rest] = line.split(" ");
      const m = kind === "ready" ? { ready: Number(e) } : kind === "armed" ? { armed: Number(e) }
        : { done: Number(e), times: rest.map(Number) };
      if (waiting) { const w = waiting; waiting = null; w(m); } else inbox.push(m);
    });
    const next = () => (inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => { waiting = r; }));
    const send = (m) => child.stdin.write(m.arm !== undefined ? `arm ${m.arm}\n` : "quit\n");
    children.push({ child: { send }, next });
  }
  for (let p = 0; args.receiver !== "native" && p < procs; ++p) {
    const share = Math.floor(n / procs) + (p < n % procs ? 1 : 0);
    const child = fork(fileURLToPath(import.meta.url), ["fanout-recv", "--url", args.url, "--secret", args.secret,
      "--user", user, "--sockets", String(share)]);
    const inbox = [];
    let waiting = null;
    child.on("message", (m) => { if (waiting) { const w = waiting; waiting = null; w(m); } else inbox.push(m); });
    child.on("exit", (code) => { if (code) { console.error(`fan-out receiver exited with ${code}`); process.exit(1); } });
    const next = () => (inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => { waiting = r; }));
    children.push({ child, next });
  }
  await Promise.all(children.map((c) => c.next()));  // ready
  const pid = args.pid ? num("pid") : null;
  const cpu0 = pid ? cpuMs(pid) : 0;
  const fromRequest = [];
  const spread = [];
  const rest = [];
  for (let e = 0; e < events; ++e) {
    for (const c of children) c.child.send({ arm: e });
    await Promise.all(children.map((c) => c.next()));  // armed
    const t0 = now();
    const res = await post(args.url, token, { message: `fan-out ${e}` });
    rest.push(now() - t0);
    if (res.status !== 200) throw new Error(`chat: ${res.status} ${res.text}`);
    const got = (await Promise.all(children.map((c) => c.next()))).flatMap((m) => m.times);
    const first = Math.min(...got);
    for (const t of got) { fromRequest.push(t - t0); spread.push(t - first); }
  }
  // The service's CPU time per event: the REST turn and the fan-out to every socket (whatever the
  // receivers' speed; compare binaries with it).
  const serviceCpuMsPerEvent = pid ? round((cpuMs(pid) - cpu0) / events) : null;
  for (const c of children) c.child.send({ quit: true });
  const receiver = args.receiver === "native" ? `native, ${num("recv-threads", 1)} thread(s)` : `node, ${procs} process(es)`;
  console.log(JSON.stringify({ sockets: n, events, receiver, receiverProcesses: args.receiver === "native" ? 1 : procs, fromRequestMs: stats(fromRequest), spreadMs: stats(spread), restMs: stats(rest), serviceCpuMsPerEvent }));
}

async function socketTurn(socket, body) {
  let deltas = 0;
  const onDelta = () => { ++deltas; };
  socket.on("ai:delta", onDelta);
  const usage = new Promise((resolve) => socket.once("ai:usage", resolve));
  const done = new Promise((resolve, reject) => {
    socket.once("ai:done", resolve);
    socket.once("ai:error", (e) => reject(new Error(JSON.stringify(e))));
  });
  const ack = await socket.emitWithAck("ai:chat", body);
  if (ack.error) throw new Error(JSON.stringify(ack.error));
  const [u] = await Promise.all([usage, done]);
  socket.off("ai:delta", onDelta);
  return { tokens: u.outputTokens, deltas };
}

async function sseTurn(url, token, body) {
  const res = await post(url, token, { ...body, stream: true });
  if (res.status !== 200) throw new Error(`chat: ${res.status} ${res.text.slice(0, 200)}`);
  const deltas = (res.text.match(/^event: delta$/gm) ?? []).length;
  const usage = /event: usage\ndata: (.*)\n/.exec(res.text);
  return { tokens: JSON.parse(usage[1]).outputTokens, deltas };
}

async function cpu() {
  const turns = num("turns", 100);
  const concurrency = num("concurrency", 4);
  const pid = num("pid");
  const body = { message: "The same question every time", ...(args.model ? { model: args.model } : {}) };
  const lanes = [];
  for (let c = 0; c < concurrency; ++c) {
    const token = userToken(args.secret, `bench-cpu-${args.transport}-${c}`);
    lanes.push({ token, socket: args.transport === "socketio" ? await connect(args.url, token) : null });
  }
  let next = 0;
  let tokens = 0;
  let deltas = 0;
  const cpu0 = cpuMs(pid);
  const t0 = now();
  await Promise.all(lanes.map(async (lane) => {
    while (next < turns) {
      ++next;
      const r = lane.socket ? await socketTurn(lane.socket, body) : await sseTurn(args.url, lane.token, body);
      tokens += r.tokens;
      deltas += r.deltas;
    }
  }));
  const wallS = (now() - t0) / 1000;
  const cpuUsed = cpuMs(pid) - cpu0;
  for (const l of lanes) l.socket?.close();
  console.log(JSON.stringify({
    transport: args.transport, turns, tokens, deltas, cpuMs: round(cpuUsed, 0), wallSeconds: round(wallS),
    cpuUsPerToken: round((cpuUsed * 1000) / tokens, 2),
  }));
}

// Socket.IO against SSE on one service, in pairs: --pairs P times a leg of --turns T streamed
// turns over each transport, the order alternating pair by pair (socketio first in even pairs),
// the sockets connected before the first leg and one warm-up leg of each not counted. Per leg the
// service's CPU time (schedstat) per output token; per pair the ratio Socket.IO / SSE. Pairs
// measured minutes apart on a shared machine differ by ±10 %; the two legs of a pair, seconds
// apart, much less: the ratio's median over many pairs is the comparison.
async function cpuPairs() {
  const pairs = num("pairs", 6);
  const turns = num("turns", 100);
  const concurrency = num("concurrency", 4);
  const pid = num("pid");
  const body = { message: "The same question every time", ...(args.model ? { model: args.model } : {}) };
  const lanes = { socketio: [], sse: [] };
  for (const t of Object.keys(lanes))
    for (let c = 0; c < concurrency; ++c) {
      const token = userToken(args.secret, `bench-cpu-${t}-${c}`);
      lanes[t].push({ token, socket: t === "socketio" ? await connect(args.url, token) : null });
    }
  const leg = async (transport, n) => {
    let next = 0, tokens = 0;
    const cpu0 = schedMs(pid);
    await Promise.all(lanes[transport].map(async (lane) => {
      while (next < n) {
        ++next;
        const r = lane.socket ? await socketTurn(lane.socket, body) : await sseTurn(args.url, lane.token, body);
        tokens += r.tokens;
      }
    }));
    return { tokens, cpuUsPerToken: ((schedMs(pid) - cpu0) * 1000) / tokens };
  };
  await leg("socketio", Math.max(1, Math.floor(turns / 4)));
  await leg("sse", Math.max(1, Math.floor(turns / 4)));
  const out = [];
  let tokensPerLeg = 0;
  for (let p = 0; p < pairs; ++p) {
    const order = p % 2 === 0 ? ["socketio", "sse"] : ["sse", "socketio"];
    const r = {};
    for (const t of order) r[t] = await leg(t, turns);
    tokensPerLeg = r.sse.tokens;
    out.push({ first: order[0], socketio: round(r.socketio.cpuUsPerToken), sse: round(r.sse.cpuUsPerToken),
      ratio: round(r.socketio.cpuUsPerToken / r.sse.cpuUsPerToken, 3) });
  }
  for (const l of lanes.socketio) l.socket.close();
  const med = (xs) => { const v = [...xs].sort((a, b) => a - b); return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2; };
  console.log(JSON.stringify({
    pairs, turns, concurrency, tokensPerLeg,
    socketioUsPerToken: round(med(out.map((x) => x.socketio))), sseUsPerToken: round(med(out.map((x) => x.sse))),
    ratioMedian: round(med(out.map((x) => x.ratio)), 3), ratioMin: Math.min(...out.map((x) => x.ratio)),
    ratioMax: Math.max(...out.map((x) => x.ratio)), socketioCheaperPairs: out.filter((x) => x.ratio <= 1).length, perPair: out,
  }));
}

// Medians over runs of what run.sh recorded (one JSON line per measurement, with "scenario").
function summary() {
  const lines = fs.readFileSync(args.file ?? process.argv[3], "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const median = (xs) => { const s = xs.filter((x) => typeof x === "number").sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)] : null; };
  const of = (scenario) => lines.filter((l) => l.scenario === scenario);
  const idleRuns = of("idle");
  if (idleRuns.length) console.log(`idle: ${idleRuns[0].sockets} sockets, per socket ${median(idleRuns.map((r) => r.perSocketBytes))} B (median of ${idleRuns.length}: ${idleRuns.map((r) => r.perSocketBytes).join(", ")}), RSS ${median(idleRuns.map((r) => r.rssBeforeKb))} -> ${median(idleRuns.map((r) => r.rssAfterKb))} kB`);
  const fan = of("fanout");
  if (fan.length) {
    const m = (k, q) => median(fan.map((r) => r[k][q]));
    console.log(`fanout: ${fan[0].sockets} sockets x ${fan[0].events} events (receiver: ${fan[0].receiver ?? `node, ${fan[0].receiverProcesses ?? 1} process(es)`}), request->socket p50 ${m("fromRequestMs", "p50")} p99 ${m("fromRequestMs", "p99")} ms; first->last socket p50 ${m("spreadMs", "p50")} p99 ${m("spreadMs", "p99")} ms; the REST turn p50 ${m("restMs", "p50")} ms; service CPU per event ${median(fan.map((r) => r.serviceCpuMsPerEvent))} ms (medians of ${fan.length} runs)`);
  }
  const pairs = of("cpu").filter((r) => r.perPair).flatMap((r) => r.perPair);
  if (pairs.length) {
    const ratios = pairs.map((x) => x.ratio);
    const mid = (xs) => { const v = [...xs].sort((a, b) => a - b); return v.length % 2 ? v[(v.length - 1) / 2] : Number(((v[v.length / 2 - 1] + v[v.length / 2]) / 2).toFixed(3)); };
    console.log(`cpu: ${pairs.length} pairs (Socket.IO leg, SSE leg), Socket.IO / SSE CPU per token: median ${mid(ratios)} (${Math.min(...ratios)}-${Math.max(...ratios)}), Socket.IO cheaper or equal in ${ratios.filter((x) => x <= 1).length}; per token ${mid(pairs.map((x) => x.socketio))} vs ${mid(pairs.map((x) => x.sse))} us (medians)`);
  }
  for (const t of ["socketio", "sse"]) {
    const c = of("cpu").filter((r) => r.transport === t);
    if (c.length) console.log(`cpu ${t}: ${median(c.map((r) => r.cpuUsPerToken))} us per token (runs: ${c.map((r) => r.cpuUsPerToken).join(", ")}; ${c[0].tokens} tokens per run)`);
  }
}

const modes = { idle, fanout, "fanout-recv": fanoutReceivers, cpu, "cpu-pairs": cpuPairs, summary };
if (!modes[args._]) {
  console.error("usage: load.mjs idle|fanout|cpu --url URL --secret S ... (see the header)");
  process.exit(2);
}
await modes[args._]();
if (args._ !== "fanout-recv") process.exit(0);
