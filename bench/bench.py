#!/usr/bin/env python3
"""Helpers for bench/run.sh: things a shell loop does too slowly or too clumsily.

  bench.py free-port
  bench.py quiet [--max-busy PCT --max-wait S]   (prints how busy the cores are, after waiting)
  bench.py start-times --bin BIN --runs N --workdir DIR   (env: JWT_SECRET, LOG_LEVEL, ...)
  bench.py wrk --pid PID [--pid PID...] -- wrk ARGS...   (wrk's result + CPU of the service
                                          (all PIDs: replicas, proxy), wrk and the rest)
  bench.py seed --port P --token T --count N [--out FILE] [--title-prefix S]
  bench.py describe < RESULTS.jsonl    (one human line per result)
  bench.py summary RESULTS.jsonl

Standard library only. Every figure is appended as one JSON object per line to the results file
by run.sh; `summary` turns the runs into medians with their spread.
"""
import argparse
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]), idle


def busy_percent(seconds=1.0):
    """How busy all cores were over the next `seconds` (100 = every core busy): what else is
    running on the machine while this benchmark is quiet."""
    t0, i0 = cpu_times()
    time.sleep(seconds)
    t1, i1 = cpu_times()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


def quiet(args):
    """Waits (up to --max-wait s) until the machine is less than --max-busy % busy; prints the
    last reading."""
    deadline = time.time() + args.max_wait
    while True:
        busy = busy_percent(1.0)
        if busy <= args.max_busy or time.time() >= deadline:
            print(f"{busy:.0f}")
            return
        time.sleep(2)


def proc_cpu_seconds(pid):
    """user + system CPU seconds of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(args):
    """Runs wrk (the arguments after --) and prints its BENCH_JSON result, plus where the CPU
    went meanwhile, in % of one core: the service (--pid), wrk itself, and everything else on the
    machine (other users' builds: the noise to read the figures against)."""
    hz = os.sysconf("SC_CLK_TCK")
    ncpu = os.cpu_count() or 1
    t0, i0 = cpu_times()
    s0 = sum(proc_cpu_seconds(p) for p in args.pid)
    w0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(args.wrk, stdout=subprocess.PIPE, text=True, check=True).stdout
    wall = time.perf_counter() - start
    w1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s1 = sum(proc_cpu_seconds(p) for p in args.pid)
    t1, i1 = cpu_times()
    line = next((l for l in out.splitlines() if l.startswith("BENCH_JSON ")), None)
    if line is None:
        sys.exit("wrk printed no BENCH_JSON line:\n" + out)
    r = json.loads(line.split(" ", 1)[1])
    busy_core_s = ((t1 - t0) - (i1 - i0)) / hz  # all cores, in CPU seconds
    server = s1 - s0
    wrk = (w1.ru_utime - w0.ru_utime) + (w1.ru_stime - w0.ru_stime)
    r["serverCpuPct"] = round(100 * server / wall, 1)
    r["wrkCpuPct"] = round(100 * wrk / wall, 1)
    r["otherCpuPct"] = round(max(0.0, 100 * (busy_core_s - server - wrk) / wall), 1)
    r["idleCpuPct"] = round(100 * ncpu - 100 * busy_core_s / wall, 1)
    print(json.dumps(r))


def proc_status(pid):
    """VmRSS and VmHWM of a process in MiB (None when it is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    parts = value.split()
                    out[key] = int(parts[0]) / 1024 if key != "Threads" else int(parts[0])
    except FileNotFoundError:
        return None
    return out


def ready_status(port):
    """Status of GET /ready, or None while nothing listens. A raw socket keeps a probe ~50 us."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            line = data.split(b"\r\n", 1)[0].split()
            return int(line[1]) if len(line) >= 2 else -1
    except (ConnectionRefusedError, ConnectionResetError):
        return None


def cpu_ns(pid):
    """CPU time used so far by every thread of a process, in ns (schedstat: ns resolution, where
    /proc/PID/stat counts 10 ms ticks). On a loaded machine it says what a start costs when the
    wall-clock time mostly says how long the process waited for a core."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except FileNotFoundError:
        pass
    return total


def start_times(args):
    """Starts the binary N times; for each: exec -> first 200 from /ready, idle RSS 1 s later,
    SIGTERM -> exit. The first start of each series finds no database (migrations run); the
    `reuse` series restarts on the database the previous start left."""
    os.makedirs(args.workdir, exist_ok=True)
    for series in ("fresh", "reuse"):
        for i in range(args.runs):
            db = os.path.join(args.workdir, f"{series}-{i if series == 'fresh' else 0}.db")
            port = free_port()
            env = dict(os.environ, PORT=str(port), HOST="127.0.0.1", DATABASE_URL=f"sqlite:{db}")
            if series == "reuse" and i == 0:
                # Prepare the database once so every measured start finds it migrated.
                subprocess.run([args.bin, "migrate"], env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stderr = open(os.path.join(args.workdir, f"{series}-{i}.stderr"), "wb")
            t0 = time.perf_counter()
            proc = subprocess.Popen([args.bin, "serve"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=stderr)
            status = None
            deadline = t0 + 10
            while time.perf_counter() < deadline:
                status = ready_status(port)
                if status == 200:
                    break
                if proc.poll() is not None:
                    break
            ready_ms = (time.perf_counter() - t0) * 1000
            ready_cpu_ms = cpu_ns(proc.pid) / 1e6
            if status != 200:
                proc.kill()
                proc.wait()
                print(json.dumps({"scenario": "start", "series": series, "run": i + 1,
                                  "error": f"not ready (last status {status}, exit {proc.returncode})"}))
                sys.stdout.flush()
                continue
            time.sleep(1.0)
            mem = proc_status(proc.pid) or {}
            t1 = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = "killed"
            stop_ms = (time.perf_counter() - t1) * 1000
            print(json.dumps({"scenario": "start", "series": series, "run": i + 1,
                              "readyMs": round(ready_ms, 2), "readyCpuMs": round(ready_cpu_ms, 2),
                              "idleRssMiB": round(mem.get("VmRSS", 0), 2),
                              "idleHwmMiB": round(mem.get("VmHWM", 0), 2), "threads": mem.get("Threads"),
                              "stopMs": round(stop_ms, 2), "exit": code}))
            sys.stdout.flush()


def seed(args):
    """Creates N conversations through the API on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    ids = []
    t0 = time.perf_counter()
    for i in range(args.count):
        body = json.dumps({"title": f"{args.title_prefix} {i + 1}", "metadata": {"seed": i + 1}})
        conn.request("POST", "/api/ai/conversations", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 201:
            sys.exit(f"seed: POST /api/ai/conversations answered {resp.status}: {data[:300]!r}")
        ids.append(json.loads(data)["data"]["id"])
    secs = time.perf_counter() - t0
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(ids) + "\n")
    print(json.dumps({"seeded": len(ids), "seconds": round(secs, 3), "perSecond": round(len(ids) / secs, 1)}))


def fmt(values, digits=1):
    """median (min..max) of the values, or the single value."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(values):.{digits}f}..{max(values):.{digits}f})"


def describe(args):
    """One human line per JSON result read from stdin (run.sh's progress output)."""
    for line in sys.stdin:
        if not line.strip():
            continue
        r = json.loads(line)
        if "readyMs" in r:
            print(f"  {r['series']:<5} start {r['run']:>2}: ready {r['readyMs']:.1f} ms "
                  f"({r.get('readyCpuMs', 0):.1f} ms of CPU), "
                  f"idle RSS {r['idleRssMiB']:.1f} MiB, SIGTERM->exit {r['stopMs']:.0f} ms")
        elif "rps" in r:
            errors = r["errConnect"] + r["errRead"] + r["errWrite"] + r["errTimeout"]
            name = r["scenario"] + (f" [{r['variant']}]" if r.get("variant") else "")
            print(f"  {name:<32} c={r['conns']:<4} run {r['run']}: {r['rps']:.0f} req/s, "
                  f"p50 {r['p50Ms']:.2f} ms, p99 {r['p99Ms']:.2f} ms, non-2xx {r['non2xx']}, "
                  f"socket errors {errors}; CPU % of a core: service {r.get('serverCpuPct')}, "
                  f"wrk {r.get('wrkCpuPct')}, other {r.get('otherCpuPct')}, idle {r.get('idleCpuPct')}")
        else:
            print("  ", json.dumps(r))
        sys.stdout.flush()


def summary(args):
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    meta = next((r for r in rows if r.get("scenario") == "meta"), {})
    print(f"\nai-agent-service benchmarks  ({meta.get('when', '')}; {meta.get('cpu', '')}, "
          f"{meta.get('nproc', '?')} cores; load before: {meta.get('loadavg', '?')})")
    print("figures: median (min..max) over runs; svc cpu% = the service's CPU in % of one core, "
          "other cpu% = everything else on the machine except wrk during the runs (noise)\n")

    starts = [r for r in rows if r.get("scenario") == "start" and "readyMs" in r]
    busy = [r for r in rows if r.get("scenario") == "busy" and r.get("of") == "start"]
    if busy:
        print(f"(cores {busy[0]['otherBusyPct']}% busy with other work before the starts)")
    for series, label in (("fresh", "new database (migrations run)"), ("reuse", "existing database")):
        s = [r for r in starts if r["series"] == series]
        if s:
            print(f"start-to-ready, {label}: {fmt([r['readyMs'] for r in s])} ms over {len(s)} starts "
                  f"(CPU used by then {fmt([r.get('readyCpuMs', 0) for r in s])} ms); "
                  f"idle RSS {fmt([r['idleRssMiB'] for r in s])} MiB; "
                  f"SIGTERM->exit {fmt([r['stopMs'] for r in s])} ms")
    failed = [r for r in rows if r.get("scenario") == "start" and "error" in r]
    for r in failed:
        print(f"start failed: {r}")

    loads = [r for r in rows if "rps" in r]
    groups = {}
    for r in loads:
        groups.setdefault((r["scenario"], r["conns"], r.get("variant", "")), []).append(r)
    mem = {}
    for r in rows:
        if r.get("scenario") == "memory":
            mem[(r["of"], r.get("variant", ""))] = r
    if groups:
        print()
        head = (f"{'scenario':<32}{'conns':>5}  {'req/s':<24}{'p50 ms':<22}{'p99 ms':<24}{'errors':>6}"
                f"  {'svc cpu%':<16}{'other cpu%':<14}")
        print(head)
        print("-" * len(head))
        for (scen, conns, variant), rs in groups.items():
            name = scen + (f" [{variant}]" if variant else "")
            errors = sum(r["errConnect"] + r["errRead"] + r["errWrite"] + r["errTimeout"] + r["non2xx"]
                         for r in rs)
            print(f"{name:<32}{conns:>5}  {fmt([r['rps'] for r in rs], 0):<24}"
                  f"{fmt([r['p50Ms'] for r in rs], 2):<22}{fmt([r['p99Ms'] for r in rs], 2):<24}{errors:>6}"
                  f"  {fmt([r.get('serverCpuPct') for r in rs], 0):<16}"
                  f"{fmt([r.get('otherCpuPct') for r in rs], 0):<14}")
    if mem:
        print()
        print(f"{'memory after load':<34}{'idle RSS MiB':>14}{'after RSS MiB':>15}{'peak (HWM) MiB':>16}")
        for (of, variant), r in mem.items():
            name = of + (f" [{variant}]" if variant else "")
            print(f"{name:<34}{r.get('idleRssMiB', 0):>14.1f}{r.get('rssMiB', 0):>15.1f}{r.get('hwmMiB', 0):>16.1f}")
    other = [r for r in rows if r.get("scenario") in ("seed", "db")]
    for r in other:
        print(json.dumps(r))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-port")
    st = sub.add_parser("start-times")
    st.add_argument("--bin", required=True)
    st.add_argument("--runs", type=int, default=10)
    st.add_argument("--workdir", required=True)
    w = sub.add_parser("wrk")
    w.add_argument("--pid", type=int, action="append", required=True)
    w.add_argument("wrk", nargs=argparse.REMAINDER)
    q = sub.add_parser("quiet")
    q.add_argument("--max-busy", type=float, default=100)
    q.add_argument("--max-wait", type=float, default=0)
    sd = sub.add_parser("seed")
    sd.add_argument("--port", type=int, required=True)
    sd.add_argument("--token", required=True)
    sd.add_argument("--count", type=int, required=True)
    sd.add_argument("--out")
    sd.add_argument("--title-prefix", default="Seeded conversation")
    sub.add_parser("describe")
    sm = sub.add_parser("summary")
    sm.add_argument("results")
    args = p.parse_args()
    if args.cmd == "free-port":
        print(free_port())
    elif args.cmd == "start-times":
        start_times(args)
    elif args.cmd == "seed":
        seed(args)
    elif args.cmd == "wrk":
        if args.wrk and args.wrk[0] == "--":
            args.wrk = args.wrk[1:]
        run_wrk(args)
    elif args.cmd == "quiet":
        quiet(args)
    elif args.cmd == "describe":
        describe(args)
    else:
        summary(args)


if __name__ == "__main__":
    main()
