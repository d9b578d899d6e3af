#!/usr/bin/env node
// Load generator for the gateway benchmark (bench/gateway/run.sh). Plain node:net sockets with a
// hand-written HTTP/1.1 client (no node:http: its per-request cost would be most of what is
// measured), so the same code hits mock-llm directly and the service's gateway. Debian has no
// wrk2, and wrk has no fixed-rate mode, hence this.
//
//   node load.mjs rate    --url URL --rate R --duration S [--token T] [--conns C]
//                         [--pids service=PID,mock=PID]   (their CPU during the run is reported)
//                         [--dump FILE]   ("sent_at_ms latency_ms" per request, to look for stalls)
//       Open loop: request i is due at start + i/R, whatever happened to the earlier ones. Each
//       goes out on an idle keep-alive connection (a new one is opened when none is idle, so a
//       slow answer never holds the schedule back). Latency = last response byte - write(); the
//       `late` figures say how far behind its due time the generator sent. A worker thread keeps
//       the schedule (node's own timers tick once per ms and would send requests in pairs).
//   node load.mjs ttft    --url URL --count N [--concurrency K] [--token T]
//       Streamed requests ("stream": true), each on a new connection (the server closes after a
//       stream). Time from write() of the request (socket already connected) to the first SSE
//       event with non-empty delta.content; also to the end of the stream.
//   node load.mjs streams --url URL --token T --steps 1000,2500,5000 --hold S --pid PID [--after S]
//                         [--mock-pid PID] [--batch B] [--tps N]
//       Opens streamed requests up to each step's count (B new connections per 50 ms), waits
//       until all have their response head, holds them for S s, then reports the service's
//       VmRSS, how many streams are alive (an event in the last 3 s), how many never got a
//       response head (and how many connections wait in the service's accept queue), and the
//       per-stream event rate over the hold. All streams are closed at the end. With --tps (the
//       upstream's tokens/s): how many of the events during the hold came more than 100 ms after
//       their due time (event k of a stream: its first event's arrival + k / N s).
//   node load.mjs count   --url URL --count N [--conns C] [--token T]
//       Closed loop: exactly N non-streamed requests over C keep-alive connections, each sending
//       its next request when its answer is in. For cost measurements (bench/gateway/cost.sh),
//       where the number of requests must be exact and their pace does not matter.
//   node load.mjs summary FILE.jsonl
//       Medians over runs of what run.sh recorded.
//
// Every mode but summary prints JSON lines on stdout. Standard library only (Node >= 18).
import net from "node:net";
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";

const args = (() => {
  const out = { _: process.argv[2] };
  for (let i = 3; i < process.argv.length; i += 2) out[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
  return out;
})();

const url = new URL(args._ !== "summary" && args.url ? args.url : "http://127.0.0.1:1/");
const host = url.hostname;
const port = Number(url.port);
const path = url.pathname + url.search;
const token = args.token ?? "sk-bench";
const message = "Hello from the gateway benchmark";

function requestBytes(stream) {
  const body = JSON.stringify({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: message }],
    ...(stream ? { stream: true } : {}),
  });
  return Buffer.from(
    `POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function quantiles(values) {
  if (values.length === 0) return {};
  const v = Float64Array.from(values).sort();
  const q = (p) => v[Math.min(v.length - 1, Math.floor(p * v.length))];
  const r = (x) => Math.round(x * 1000) / 1000;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { p50: r(q(0.5)), p90: r(q(0.9)), p99: r(q(0.99)), p999: r(q(0.999)), max: r(v[v.length - 1]), mean: r(mean) };
}

function cpuSeconds(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop().trim().split(/\s+/);
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

function status(pid) {
  const out = {};
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
      const m = /^(VmRSS|VmHWM|Threads):\s+(\d+)/.exec(line);
      if (m) out[m[1]] = m[1] === "Threads" ? Number(m[2]) : Math.round((Number(m[2]) / 1024) * 100) / 100;
    }
    out.fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {}
  return out;
}

// Busy CPU seconds of the whole machine (all cores), from /proc/stat.
function machineBusySeconds() {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) / 100;
}

// CPU of the given processes ("label=pid" strings), of this one, and of everything else on the
// machine (other users' builds: the noise), in % of one core, between two calls:
// {selfCpuPct, <label>CpuPct..., otherCpuPct}.
function cpuMeter(labelled) {
  const procs = labelled.map((x) => x.split("=")).map(([label, pid]) => ({ label, pid: Number(pid) }));
  const t0 = performance.now();
  const c0 = procs.map((p) => cpuSeconds(p.pid));
  const m0 = machineBusySeconds();
  const self0 = process.cpuUsage();
  return () => {
    const secs = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(self0);
    const pct = (s) => Math.round((s / secs) * 1000) / 10;
    const selfS = (self.user + self.system) / 1e6;
    const out = { selfCpuPct: pct(selfS) };
    let known = selfS;
    procs.forEach((p, i) => {
      const used = cpuSeconds(p.pid) - c0[i];
      known += used;
      out[`${p.label}CpuPct`] = pct(used);
    });
    out.otherCpuPct = pct(Math.max(0, machineBusySeconds() - m0 - known));
    return out;
  };
}

// Connections waiting in the kernel's accept queue of a listening port (rx_queue of its LISTEN
// row in /proc/net/tcp): ones the server has not accepted yet.
function acceptBacklog(listenPort) {
  try {
    const hexPort = listenPort.toString(16).toUpperCase().padStart(4, "0");
    for (const line of fs.readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 4 && f[1].endsWith(":" + hexPort) && f[3] === "0A") return parseInt(f[4].split(":")[1], 16);
    }
  } catch {}
  return null;
}

// --- a keep-alive connection reading Content-Length responses ---------------------------------

class Conn {
  constructor(onDone, onError) {
    this.buf = Buffer.alloc(0);
    this.busy = false;
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.setNoDelay(true);
    this.ready = new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("error", reject);
    });
    this.socket.on("data", (d) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      for (;;) {
        const end = this.buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = this.buf.subarray(0, end).toString("latin1");
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (!m) return onError(this, new Error("response without Content-Length: " + head.slice(0, 200)));
        const total = end + 4 + Number(m[1]);
        if (this.buf.length < total) return;
        const code = Number(head.slice(9, 12));
        this.buf = this.buf.subarray(total);
        this.busy = false;
        onDone(this, code);
      }
    });
    this.socket.on("error", (e) => onError(this, e));
    this.socket.on("close", () => {
      this.closed = true;
      if (this.busy) onError(this, new Error("connection closed mid-response"));
    });
  }
}

async function rate() {
  const r = Number(args.rate ?? 2000);
  const duration = Number(args.duration ?? 10);
  const warm = Number(args.conns ?? 16);
  const pids = (args.pids ?? "").split(",").filter(Boolean); // label=pid,...
  const req = requestBytes(false);
  const total = Math.round(r * duration);
  const latencies = [];
  const late = [];
  const statuses = {};
  let errors = 0, completed = 0, opened = 0;
  const idle = [];
  const sentAt = new Map();
  const dump = args.dump ? [] : null; // --dump FILE: "sent_at_ms latency_ms" per request
  let start = 0;

  const onDone = (c, code) => {
    const t = performance.now();
    latencies.push(t - sentAt.get(c));
    if (dump) dump.push(`${(sentAt.get(c) - start).toFixed(3)} ${(t - sentAt.get(c)).toFixed(3)}`);
    statuses[code] = (statuses[code] ?? 0) + 1;
    completed++;
    idle.push(c);
  };
  const onError = (c, e) => {
    if (c.failed) return;
    c.failed = true;
    errors++;
    if (errors <= 3) console.error("rate: " + e.message);
    c.socket.destroy();
  };
  const open = () => {
    opened++;
    return new Conn(onDone, onError);
  };
  const warmConns = Array.from({ length: warm }, open);
  await Promise.all(warmConns.map((c) => c.ready));
  idle.push(...warmConns);

  // The schedule is kept by a worker thread that sleeps in Atomics.wait (a futex wait, accurate to
  // ~0.1 ms, unlike setTimeout's 1 ms ticks) and posts "due" to this thread, whose event loop
  // stays free to read responses.
  const begin = performance.timeOrigin + performance.now() + 100; // absolute ms, shared with the worker
  const pacer = new Worker(`
    const { parentPort, workerData: { rate, total, start } } = require("node:worker_threads");
    const { performance } = require("node:perf_hooks");
    const cell = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < total; i++) {
      const wait = start + (i * 1000) / rate - (performance.timeOrigin + performance.now());
      if (wait > 0.05) Atomics.wait(cell, 0, 0, wait);
      parentPort.postMessage(i);
    }`, { eval: true, workerData: { rate: r, total, start: begin } });
  start = begin - performance.timeOrigin;
  let meter = null;
  let next = 0;
  await new Promise((resolve) => {
    pacer.on("message", (i) => {
      meter ??= cpuMeter(pids);
      // Everything due by now (messages can bunch up when this thread was busy).
      const now = performance.now();
      const due = Math.min(total, Math.max(i + 1, Math.floor(((now - start) * r) / 1000) + 1));
      while (next < due) {
        let c;
        while ((c = idle.pop()) && (c.closed || c.failed));
        if (!c) c = open(); // writes queue until it connects; counted in its latency
        late.push(Math.max(0, now - (start + (next * 1000) / r)));
        c.busy = true;
        sentAt.set(c, performance.now());
        c.socket.write(req);
        next++;
      }
      if (next >= total) resolve();
    });
  });
  // Wait for the stragglers (up to 5 s).
  const deadline = performance.now() + 5000;
  while (completed + errors < total && performance.now() < deadline) await sleep(5);
  const wall = (performance.now() - start) / 1000;
  const cpu = meter();
  for (const c of [...idle, ...warmConns]) c.socket.destroy();
  if (dump) fs.writeFileSync(args.dump, dump.join("\n") + "\n");
  const lat = quantiles(latencies);
  const lq = quantiles(late);
  console.log(JSON.stringify({
    mode: "rate", url: url.href, targetRps: r, durationS: duration, sent: next, completed, errors,
    lost: total - completed - errors, statuses, achievedRps: Math.round((completed / wall) * 10) / 10,
    connections: opened,
    p50Ms: lat.p50, p90Ms: lat.p90, p99Ms: lat.p99, p999Ms: lat.p999, maxMs: lat.max, meanMs: lat.mean,
    lateP50Ms: lq.p50, lateP99Ms: lq.p99, ...cpu,
  }));
  process.exit(0);
}

async function count() {
  const total = Number(args.count ?? 1000);
  const conns = Number(args.conns ?? 4);
  const req = requestBytes(false);
  const statuses = {};
  let sent = 0, completed = 0, errors = 0;
  await new Promise((resolve) => {
    const next = (c) => {
      if (sent >= total) return;
      sent++;
      c.busy = true;
      c.socket.write(req);
    };
    const settle = () => { if (completed + errors >= total) resolve(); };
    const onDone = (c, code) => {
      statuses[code] = (statuses[code] ?? 0) + 1;
      completed++;
      next(c);
      settle();
    };
    const onError = (c, e) => {
      if (c.failed) return;
      c.failed = true;
      errors += c.busy ? 1 : 0;
      console.error("count: " + e.message);
      c.socket.destroy();
      settle();
    };
    for (let i = 0; i < Math.min(conns, total); i++) next(new Conn(onDone, onError));
  });
  console.log(JSON.stringify({ mode: "count", url: url.href, count: total, completed, errors, statuses }));
  process.exit(errors ? 1 : 0);
}

// --- streamed requests ----------------------------------------------------------------------

const firstContent = /"content":"[^"]/; // the role chunk carries "content":"", which does not match

function ttftOnce(req) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, noDelay: true });
    let t0 = 0, first = 0, text = "", code = 0;
    s.on("connect", () => {
      t0 = performance.now();
      s.write(req);
    });
    s.on("data", (d) => {
      if (first) return;
      text += d.toString("latin1");
      if (!code && text.length >= 12) code = Number(text.slice(9, 12));
      if (firstContent.test(text)) first = performance.now();
    });
    s.on("error", () => {});
    s.on("close", () => {
      const end = performance.now();
      resolve({ code, ttft: first ? first - t0 : null, total: end - t0 });
    });
  });
}

async function ttft() {
  const count = Number(args.count ?? 2000);
  const concurrency = Number(args.concurrency ?? 1);
  const req = requestBytes(true);
  const ttfts = [], totals = [];
  let failed = 0, done = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (done < count) {
      done++;
      const r = await ttftOnce(req);
      if (r.code !== 200 || r.ttft === null) {
        if (++failed <= 3) console.error(`ttft: status ${r.code}, first content ${r.ttft}`);
        continue;
      }
      ttfts.push(r.ttft);
      totals.push(r.total);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wall = (performance.now() - t0) / 1000;
  const a = quantiles(ttfts), b = quantiles(totals);
  console.log(JSON.stringify({
    mode: "ttft", url: url.href, count, concurrency, ok: ttfts.length, failed,
    perSecond: Math.round((count / wall) * 10) / 10,
    ttftP50Ms: a.p50, ttftP90Ms: a.p90, ttftP99Ms: a.p99, ttftMaxMs: a.max,
    streamP50Ms: b.p50, streamP99Ms: b.p99,
  }));
}

// --- many concurrent streams ----------------------------------------------------------------

async function streams() {
  const steps = (args.steps ?? "1000,2500,5000").split(",").map(Number);
  const hold = Number(args.hold ?? 10);
  const pid = Number(args.pid);
  const mockPid = args["mock-pid"] ? Number(args["mock-pid"]) : null;
  const batch = Number(args.batch ?? 250);
  // --tps N: the upstream's pace. Event k of a stream is due N per second after its first one;
  // during each hold, the events later than 100 ms after their due time are counted (issue 16:
  // every token within 100 ms of its schedule).
  const tps = args.tps ? Number(args.tps) : 0;
  let holding = false;
  const req = requestBytes(true);
  const all = [];
  const needle = Buffer.from("data: ");
  const report = (o) => console.log(JSON.stringify({ mode: "streams", ...o }));

  const openOne = () => {
    const st = { events: 0, code: 0, head: false, closed: false, error: null, last: 0, tail: Buffer.alloc(0),
                 first: 0, heldEvents: 0, lateEvents: 0, maxLateMs: 0 };
    const s = net.connect({ host, port });
    st.socket = s;
    s.on("connect", () => s.write(req));
    s.on("data", (d) => {
      // Count "data: " occurrences (one per SSE event; the ": ping" heartbeat has none), with a
      // few bytes carried over in case one straddles two reads.
      let buf = st.tail.length ? Buffer.concat([st.tail, d]) : d;
      if (!st.head) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) { st.tail = buf; return; }
        st.code = Number(buf.subarray(9, 12).toString());
        st.head = true;
        buf = buf.subarray(end + 4);
      }
      let n = 0;
      for (let i = buf.indexOf(needle); i >= 0; i = buf.indexOf(needle, i + needle.length)) n++;
      if (n) {
        const now = performance.now();
        if (tps > 0) {
          if (st.events === 0) st.first = now;
          if (holding) {
            for (let k = st.events; k < st.events + n; k++) {
              const late = now - (st.first + (k * 1000) / tps);
              st.heldEvents++;
              if (late > 100) st.lateEvents++;
              if (late > st.maxLateMs) st.maxLateMs = late;
            }
          }
        }
        st.events += n;
        st.last = now;
      }
      st.tail = buf.subarray(Math.max(0, buf.length - (needle.length - 1)));
      if (st.tail.indexOf(needle.subarray(0, 1)) < 0) st.tail = Buffer.alloc(0);
      else st.tail = Buffer.from(st.tail); // don't keep the whole read buffer alive
    });
    s.on("error", (e) => { st.error = e.code ?? e.message; });
    s.on("close", () => { st.closed = true; });
    all.push(st);
  };

  const t0 = performance.now();
  report({ step: 0, streams: 0, service: status(pid), mock: mockPid ? status(mockPid) : undefined });
  for (const target of steps) {
    const rampStart = performance.now();
    while (all.length < target) {
      const n = Math.min(batch, target - all.length);
      for (let i = 0; i < n; i++) openOne();
      await sleep(50);
    }
    // Wait (up to 60 s) until every stream has its head or has failed.
    const deadline = performance.now() + 60000;
    while (all.some((s) => !s.head && !s.closed) && performance.now() < deadline) await sleep(50);
    const rampS = (performance.now() - rampStart) / 1000;
    await sleep(1000); // settle
    const meter = cpuMeter(mockPid ? [`service=${pid}`, `mock=${mockPid}`] : [`service=${pid}`]);
    const e0 = all.map((s) => s.events);
    for (const s of all) { s.heldEvents = 0; s.lateEvents = 0; s.maxLateMs = 0; }
    holding = true;
    const h0 = performance.now();
    await sleep(hold * 1000);
    holding = false;
    const secs = (performance.now() - h0) / 1000;
    const now = performance.now();
    const cpu = meter();
    const rates = all.map((s, i) => (s.events - e0[i]) / secs);
    const alive = all.filter((s) => !s.closed && s.last > now - 3000).length;
    const errs = {};
    for (const s of all) if (s.error) errs[s.error] = (errs[s.error] ?? 0) + 1;
    const codes = {};
    for (const s of all) codes[s.code] = (codes[s.code] ?? 0) + 1;
    const q = quantiles(rates);
    let schedule;
    if (tps > 0) {
      const held = all.reduce((a, s) => a + s.heldEvents, 0);
      const late = all.reduce((a, s) => a + s.lateEvents, 0);
      const lq = quantiles(all.map((s) => s.maxLateMs));
      schedule = {
        eventsHeld: held, eventsLate100ms: late,
        onSchedulePct: held ? Math.round(((held - late) / held) * 1000) / 10 : null,
        streamsAllOnSchedulePct: Math.round((all.filter((s) => s.heldEvents > 0 && s.lateEvents === 0).length / all.length) * 1000) / 10,
        maxLateMsPerStream: { p50: lq.p50 !== undefined ? Math.round(lq.p50) : null, p99: lq.p99 !== undefined ? Math.round(lq.p99) : null, max: lq.max !== undefined ? Math.round(lq.max) : null },
      };
    }
    report({
      step: target, streams: all.length, alive, closed: all.filter((s) => s.closed).length,
      noHead: all.filter((s) => !s.head).length, acceptBacklog: acceptBacklog(port), statuses: codes, errors: errs,
      rampS: Math.round(rampS * 10) / 10, holdS: Math.round(secs * 10) / 10,
      eventsPerStreamPerS: { min: q.p50 !== undefined ? Math.round(Math.min(...rates) * 100) / 100 : null, p50: q.p50, mean: q.mean, max: q.max },
      schedule,
      service: status(pid), mock: mockPid ? status(mockPid) : undefined, ...cpu,
      tSinceStartS: Math.round((performance.now() - t0) / 100) / 10,
    });
  }
  for (const s of all) s.socket.destroy();
  await sleep(3000);
  report({ step: "closed", streams: 0, service: status(pid), mock: mockPid ? status(mockPid) : undefined });
  // And once more --after seconds after the close (issue 16: RSS back within 20 % of idle a
  // minute after the streams end).
  const after = Number(args.after ?? 0);
  if (after > 3) {
    await sleep((after - 3) * 1000);
    report({ step: `closed+${after}s`, streams: 0, service: status(pid), mock: mockPid ? status(mockPid) : undefined });
  }
  process.exit(0);
}


// --- summary of a results file (medians over runs) -----------------------------------------

function summary() {
  const file = process.argv[3];
  const rows = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const med = (xs) => {
    const v = xs.filter((x) => typeof x === "number" && !Number.isNaN(x)).sort((a, b) => a - b);
    if (!v.length) return NaN;
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const f = (x, d = 3) => (Number.isNaN(x) ? "-" : x.toFixed(d));
  const spread = (xs, d = 3) => `${f(med(xs), d)} (${xs.map((x) => f(x, d)).join(" / ")})`;
  const pick = (scenario, target) => rows.filter((r) => r.scenario === scenario && r.target === target);
  const meta = rows.find((r) => r.scenario === "meta") ?? {};
  const loads = [...new Set(rows.filter((r) => r.loadavg && r.scenario !== "meta").map((r) => r.loadavg.split(" ")[0]))];
  console.log(`\ngateway benchmark ${meta.when ?? ""}: ${meta.binary ?? ""} (THREADS=${meta.serviceThreads}), ${meta.nproc} cores`);
  console.log(`load average (1 min) during the runs: ${loads.join(", ")}`);
  console.log("figures: median (each run)\n");

  const pairs = (scenario, key) => {
    const d = pick(scenario, "direct"), g = pick(scenario, "gateway");
    return { d: d.map((r) => r[key]), g: g.map((r) => r[key]), diff: g.map((r, i) => (d[i] ? r[key] - d[i][key] : NaN)) };
  };
  if (pick("overhead", "gateway").length) {
    const rate = pick("overhead", "gateway")[0].targetRps;
    console.log(`fixed rate ${rate} req/s (open loop), latency in ms:`);
    for (const k of ["p50Ms", "p99Ms", "p999Ms"]) {
      const p = pairs("overhead", k);
      console.log(`  ${k.padEnd(7)} direct ${spread(p.d)}  gateway ${spread(p.g)}  added ${spread(p.diff)}`);
    }
    const g = pick("overhead", "gateway");
    console.log(`  achieved req/s: direct ${spread(pick("overhead", "direct").map((r) => r.achievedRps), 0)}, gateway ${spread(g.map((r) => r.achievedRps), 0)}; ` +
      `errors ${g.reduce((a, r) => a + r.errors + r.lost, 0)}; gateway CPU % of a core: service ${spread(g.map((r) => r.serviceCpuPct), 0)}, mock ${spread(g.map((r) => r.mockCpuPct), 0)}, ` +
      `generator ${spread(g.map((r) => r.selfCpuPct), 0)}, other work ${spread(g.map((r) => r.otherCpuPct ?? NaN), 0)}`);
  }
  if (pick("wrk", "gateway").length) {
    console.log("closed loop, wrk -t2 (connections as GW_CONNS):");
    for (const t of ["direct", "gateway"]) {
      const r = pick("wrk", t);
      console.log(`  ${t.padEnd(7)} ${spread(r.map((x) => x.rps), 0)} req/s, p50 ${spread(r.map((x) => x.p50Ms))} ms, p99 ${spread(r.map((x) => x.p99Ms))} ms, ` +
        `server CPU ${spread(r.map((x) => x.serverCpuPct), 0)} %, errors ${r.reduce((a, x) => a + x.non2xx + x.errConnect + x.errRead + x.errWrite + x.errTimeout, 0)}`);
    }
  }
  if (pick("ttft", "gateway").length) {
    console.log("streamed, time to first content delta (ms):");
    for (const k of ["ttftP50Ms", "ttftP90Ms", "ttftP99Ms"]) {
      const p = pairs("ttft", k);
      console.log(`  ${k.padEnd(9)} direct ${spread(p.d)}  gateway ${spread(p.g)}  added ${spread(p.diff)}`);
    }
    const g = pick("ttft", "gateway");
    console.log(`  failed: ${g.reduce((a, r) => a + r.failed, 0)} of ${g.reduce((a, r) => a + r.count, 0)}`);
  }
  const st = pick("streams", "gateway");
  if (st.length) {
    console.log("concurrent streams through the gateway (service VmRSS in MiB; per stream = (RSS - RSS at 0) / streams with a");
    console.log("response head; events = SSE data events per stream per s over the hold):");
    const steps = [...new Set(st.map((r) => r.step))];
    const base = {};
    for (const r of st) if (r.step === 0) base[r.run] = r.service?.VmRSS;
    for (const step of steps) {
      const r = st.filter((x) => x.step === step);
      let line = `  ${String(step).padEnd(7)} RSS ${spread(r.map((x) => x.service?.VmRSS), 1)}`;
      if (typeof step === "number" && step > 0) {
        // Per stream held: streams that never got a response head were not accepted yet.
        line += `, per stream ${spread(r.map((x) => ((x.service.VmRSS - base[x.run]) * 1024) / Math.max(1, step - x.noHead)), 1)} KiB` +
          `, alive ${spread(r.map((x) => x.alive), 0)}, no response head ${spread(r.map((x) => x.noHead), 0)}` +
          ` (accept queue ${spread(r.map((x) => x.acceptBacklog ?? NaN), 0)}, ramp ${spread(r.map((x) => x.rampS), 1)} s), events p50 ${spread(r.map((x) => x.eventsPerStreamPerS.p50), 1)}` +
          ` min ${spread(r.map((x) => x.eventsPerStreamPerS.min), 1)}, CPU service ${spread(r.map((x) => x.serviceCpuPct), 0)} %` +
          ` mock ${spread(r.map((x) => x.mockCpuPct), 0)} % client ${spread(r.map((x) => x.selfCpuPct), 0)} %` +
          ` other ${spread(r.map((x) => x.otherCpuPct ?? NaN), 0)} %` +
          `, fds ${spread(r.map((x) => x.service?.fds), 0)}`;
        const errs = r.map((x) => JSON.stringify(x.errors)).filter((e) => e !== "{}");
        if (errs.length) line += `, errors ${errs.join(" ")}`;
      }
      console.log(line);
    }
  }
}

const modes = { rate, count, ttft, streams, summary };
if (!modes[args._]) {
  console.error("usage: node load.mjs rate|count|ttft|streams --url URL ... (see the header comment)");
  process.exit(2);
}
await modes[args._]();
