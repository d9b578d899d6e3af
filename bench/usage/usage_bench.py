#!/usr/bin/env python3
"""Usage API on a large ledger (issue 4): data generator and timers for bench/usage/run.sh.

  usage_bench.py generate --db PATH [--rows 1000000] [--users 2000] [--days 90] [--seed 4]
      Fills usage_ledger of a migrated database with synthetic calls and usage_daily with the
      rollup insert_usage would have produced for them; checks rollup == ledger in one SQL query.
      Prints one JSON line (counts, heavy/light user ids, timings).
  usage_bench.py check-rollups --db PATH
      Checks usage_monthly_user and usage_daily_model (migration 13) against the ledger, group by
      group, as generate checks usage_daily. Prints one JSON line; exits 1 on a mismatch.
  usage_bench.py http --port N --admin-token T --user-token T --heavy U --light U [--runs 30]
                      [--label new] [--store sqlite]
      Times every report over HTTP (one keep-alive connection, rounds interleaved).
  usage_bench.py sql --db PATH --heavy U --light U [--runs 30]
      Times the same SQL the store runs (SqliteStore::usage_report), directly with sqlite3.
  usage_bench.py plans --db PATH --heavy U
      EXPLAIN QUERY PLAN of each statement.
  usage_bench.py fixes --db PATH --heavy U --light U [--runs 30]
      Times candidate fixes (indexes / query shapes) inside a transaction that is rolled back.
  usage_bench.py summary RESULTS.jsonl

Everything prints JSON lines (one per figure); nothing asserts a timing.
"""
import argparse
import bisect
import datetime as dt
import http.client
import itertools
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import time

DAY_MS = 86_400_000

# name, deployment, provider, share of calls, USD per 1M input / output tokens (None: unpriced),
# whether it reports reasoning tokens, whether it reports cache writes (Anthropic-style).
MODELS = [
    ("gpt-4o-mini", "openai-gpt-4o-mini", "openai", 0.40, (0.15, 0.60), False, False),
    ("gpt-4o", "openai-gpt-4o", "openai", 0.18, (2.50, 10.00), False, False),
    ("o4-mini", "openai-o4-mini", "openai", 0.10, (1.10, 4.40), True, False),
    ("claude-sonnet-4", "anthropic-sonnet-4", "anthropic", 0.20, (3.00, 15.00), False, True),
    ("llama-3.1-8b", "local-llama", "openai-compatible", 0.12, None, False, False),
]
# By hour of day (UTC): a working-day curve.
HOUR_WEIGHTS = [2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 12, 11, 9, 7, 6, 5, 4, 3, 2]


def utc_day(ms):
    return (dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=(ms // DAY_MS) * DAY_MS)).strftime("%Y-%m-%d")


def today_utc():
    return dt.datetime.now(dt.timezone.utc).date()


def user_name(rank):
    return f"user-{rank:04d}"


def uuid_v7(ms, rnd):
    r = rnd.getrandbits(74)
    t = f"{ms:012x}"
    a = 0x7000 | (r >> 62)
    b = 0x8000 | ((r >> 48) & 0x3FFF)
    c = r & 0xFFFFFFFFFFFF
    return f"{t[:8]}-{t[8:]}-{a:04x}-{b:04x}-{c:012x}"


def uuid_v4(rnd):
    h = f"{rnd.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


# --- generate --------------------------------------------------------------------------------------

def generate(args):
    rnd = random.Random(args.seed)
    t0 = time.perf_counter()
    n_rows, n_users, n_days = args.rows, args.users, args.days
    last_day = (int(time.time() * 1000)) // DAY_MS          # today (UTC), as a day number
    first_day = last_day - n_days + 1
    now_ms = int(time.time() * 1000)

    # Calls per user: Zipf-like (weight 1/(rank+2)), so user-0001 is the heaviest (~5 % of calls)
    # and the tail has a few dozen calls in the whole period.
    weights = [1.0 / (rank + 2) for rank in range(1, n_users + 1)]
    per_user = [0] * n_users
    for u in rnd.choices(range(n_users), weights=weights, k=n_rows):
        per_user[u] += 1

    # Day weights: weekdays 1.0, weekends 0.5, slow growth over the period (x1 -> x1.5).
    day_weight = {}
    for d in range(first_day, last_day + 1):
        wd = (d + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        day_weight[d] = (0.5 if wd >= 5 else 1.0) * (1.0 + 0.5 * (d - first_day) / max(1, n_days - 1))
    hour_cum = list(itertools.accumulate(HOUR_WEIGHTS))
    model_cum = list(itertools.accumulate(m[3] for m in MODELS))

    # Compact keys (created_at << 14 | user << 3 | model), sorted by time so the ledger is
    # inserted in time order like the service's (uuid v7 ids, created_at = now).
    keys = []
    for u, n in enumerate(per_user):
        if n == 0:
            continue
        # A user works on some days (~8 calls per active day; heavy users every day), mostly with
        # one favourite model.
        n_active = min(n_days, max(1, math.ceil(n / 8)))
        days = list(day_weight)
        active = sorted(set(rnd.choices(days, weights=[day_weight[d] for d in days], k=n_active * 2)))
        rnd.shuffle(active)
        active = active[:n_active]
        favourite = bisect.bisect(model_cum, rnd.random() * model_cum[-1])
        for _ in range(n):
            d = active[rnd.randrange(len(active))]
            h = bisect.bisect(hour_cum, rnd.random() * hour_cum[-1])
            ms = d * DAY_MS + h * 3_600_000 + rnd.randrange(3_600_000)
            if ms > now_ms:  # today is not over yet
                ms = d * DAY_MS + rnd.randrange(max(1, now_ms - d * DAY_MS))
            m = favourite if rnd.random() < 0.6 else bisect.bisect(model_cum, rnd.random() * model_cum[-1])
            keys.append((ms << 14) | (u << 3) | m)
    keys.sort()
    t_keys = time.perf_counter()

    rollup = {}

    def rows():
        lognorm = rnd.lognormvariate
        rand = rnd.random
        for key in keys:
            ms, u, mi = key >> 14, (key >> 3) & 0x7FF, key & 7
            name, deployment, provider, _, price, reasoning, cache_write = MODELS[mi]
            user = user_name(u + 1)
            kind = "chat" if rand() < 0.7 else "gateway"
            r = rand()
            status = "complete" if r < 0.95 else "interrupted" if r < 0.98 else "error"
            inp = min(120_000, max(5, int(lognorm(6.6, 1.0))))          # median ~735
            out = min(8_000, max(1, int(lognorm(5.5, 0.8))))            # median ~245
            cached = int(inp * (0.3 + 0.6 * rand())) if (provider != "openai-compatible" and rand() < 0.3) else 0
            cwrite = int(inp * 0.5) if (cache_write and rand() < 0.1) else 0
            reason = int(out * (1 + 3 * rand())) if reasoning else 0
            estimated = 0
            if status == "interrupted":
                out = max(1, out // 3)
                estimated = 1
            elif status == "error":
                out, reason, cached, cwrite = 0, 0, 0, 0
                if rand() < 0.5:
                    inp = 0
            elif rand() < 0.02:  # a provider that sent no usage: counted by the tokenizer
                estimated = 1
            if price is None:
                cost = None
            else:
                pin, pout = price
                cost = int(round((inp - cached) * pin + cached * pin * 0.5 + cwrite * pin * 1.25 +
                                 (out + reason) * pout))
            latency = int(lognorm(7.2, 0.6))                               # median ~1.3 s
            ttft = int(latency * (0.1 + 0.3 * rand())) if (kind == "chat" or rand() < 0.5) and status != "error" else None
            conv = uuid_v4(rnd) if kind == "chat" else None
            msg = uuid_v7(ms, rnd) if kind == "chat" else None
            day = utc_day(ms)
            k = (day, user, name)
            agg = rollup.get(k)
            if agg is None:
                agg = rollup[k] = [0, 0, 0, 0, 0, 0, 0, 0, 0]
            agg[0] += 1
            agg[1] += inp
            agg[2] += out
            agg[3] += cached
            agg[4] += cwrite
            agg[5] += reason
            agg[6] += cost or 0
            agg[7] += 1 if cost is None else 0
            agg[8] += estimated
            yield (uuid_v7(ms, rnd), user, conv, msg, kind, name, deployment, provider, inp, out, cached,
                   cwrite, reason, cost, latency, ttft, status, estimated, f"{rnd.getrandbits(64):016x}", ms)

    db = sqlite3.connect(args.db, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-524288")  # 512 MiB for the fill only
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO usage_ledger (id, user_id, conversation_id, message_id, kind, model, deployment,"
        " provider, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens,"
        " reasoning_tokens, cost_micros, latency_ms, ttft_ms, status, estimated, request_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
    t_ledger = time.perf_counter()
    db.executemany(
        "INSERT INTO usage_daily (day, user_id, model, requests, input_tokens, output_tokens,"
        " cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_micros, unpriced_requests,"
        " estimated_requests) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (k + tuple(v) for k, v in sorted(rollup.items())))
    db.execute("COMMIT")
    t_rollup = time.perf_counter()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA synchronous=NORMAL")

    # The check: every (day, user, model) group of the ledger, aggregated in SQL, equals its
    # rollup row, and the other way round (0 mismatches), and the grand totals agree.
    mismatches = db.execute("""
      WITH l AS (
        SELECT date(created_at / 1000, 'unixepoch') AS day, user_id, model, count(*) AS requests,
               sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cache_write_tokens),
               sum(reasoning_tokens), coalesce(sum(cost_micros), 0), sum(cost_micros IS NULL),
               sum(estimated)
        FROM usage_ledger GROUP BY 1, 2, 3),
      r AS (
        SELECT day, user_id, model, requests, input_tokens, output_tokens, cached_input_tokens,
               cache_write_tokens, reasoning_tokens, cost_micros, unpriced_requests, estimated_requests
        FROM usage_daily)
      SELECT (SELECT count(*) FROM (SELECT * FROM l EXCEPT SELECT * FROM r))
           + (SELECT count(*) FROM (SELECT * FROM r EXCEPT SELECT * FROM l))""").fetchone()[0]
    ledger_totals = db.execute(
        "SELECT count(*), sum(input_tokens), sum(output_tokens), coalesce(sum(cost_micros), 0),"
        " sum(cost_micros IS NULL) FROM usage_ledger").fetchone()
    rollup_totals = db.execute(
        "SELECT sum(requests), sum(input_tokens), sum(output_tokens), sum(cost_micros),"
        " sum(unpriced_requests) FROM usage_daily").fetchone()
    t_check = time.perf_counter()
    counts = dict(db.execute(
        "SELECT 'ledger', count(*) FROM usage_ledger UNION ALL SELECT 'rollup', count(*) FROM usage_daily"
        " UNION ALL SELECT 'rollup30', count(*) FROM usage_daily WHERE day >= ?",
        (utc_day((last_day - 29) * DAY_MS),)).fetchall())
    statuses = dict(db.execute("SELECT status, count(*) FROM usage_ledger GROUP BY 1").fetchall())
    heavy = db.execute("SELECT user_id, count(*) FROM usage_ledger GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
    light = db.execute("SELECT user_id, count(*) FROM usage_ledger GROUP BY 1 ORDER BY 2, 1 LIMIT 1").fetchone()
    users = db.execute("SELECT count(DISTINCT user_id) FROM usage_daily").fetchone()[0]
    heavy_rollup = db.execute("SELECT count(*) FROM usage_daily WHERE user_id = ?", (heavy[0],)).fetchone()[0]
    db.close()
    print(json.dumps({
        "what": "generate", "rows": counts["ledger"], "rollupRows": counts["rollup"],
        "rollupRowsLast30Days": counts["rollup30"], "users": users,
        "from": utc_day(first_day * DAY_MS), "to": utc_day(last_day * DAY_MS),
        "statuses": statuses, "unpricedRows": ledger_totals[4],
        "heavyUser": heavy[0], "heavyUserCalls": heavy[1], "heavyUserRollupRows": heavy_rollup,
        "lightUser": light[0], "lightUserCalls": light[1],
        "check": {"mismatchedGroups": mismatches, "ledger": list(ledger_totals), "rollup": list(rollup_totals),
                  "ok": mismatches == 0 and tuple(ledger_totals) == tuple(rollup_totals)},
        "seconds": {"keys": round(t_keys - t0, 1), "ledger": round(t_ledger - t_keys, 1),
                    "rollup": round(t_rollup - t_ledger, 1), "check": round(t_check - t_rollup, 1)},
        "dbMiB": round(os.path.getsize(args.db) / 2**20, 1),
    }))
    if mismatches != 0 or tuple(ledger_totals) != tuple(rollup_totals):
        sys.exit(1)


def check_rollups(args):
    """Migration 13's rollups against the ledger: (month, user) and (day, model) groups, both ways."""
    db = sqlite3.connect(args.db)
    sums = ("count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cache_write_tokens),"
            " sum(reasoning_tokens), coalesce(sum(cost_micros), 0), sum(cost_micros IS NULL), sum(estimated)")
    cols = ", ".join(f"sum({c})" for c in COLS)
    t = time.perf_counter()
    out = {"what": "check-rollups"}
    for name, ledger_key, rollup in (
            ("monthlyUser", "substr(date(created_at / 1000, 'unixepoch'), 1, 7), user_id",
             f"SELECT month, user_id, {cols} FROM usage_monthly_user GROUP BY 1, 2"),
            ("dailyModel", "date(created_at / 1000, 'unixepoch'), model",
             f"SELECT day, model, {cols} FROM usage_daily_model GROUP BY 1, 2")):
        ledger = f"SELECT {ledger_key}, {sums} FROM usage_ledger GROUP BY 1, 2"
        mismatches = db.execute(f"SELECT (SELECT count(*) FROM ({ledger} EXCEPT {rollup}))"
                                f" + (SELECT count(*) FROM ({rollup} EXCEPT {ledger}))").fetchone()[0]
        rows = db.execute(f"SELECT count(*) FROM ({rollup})").fetchone()[0]
        out[name] = {"groups": rows, "mismatchedGroups": mismatches}
    out["ok"] = all(out[n]["mismatchedGroups"] == 0 for n in ("monthlyUser", "dailyModel"))
    out["seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(out))
    if not out["ok"]:
        sys.exit(1)


# --- the queries ----------------------------------------------------------------------------------

def ranges():
    today = today_utc()
    d = lambda n: (today - dt.timedelta(days=n - 1)).isoformat()
    return today.isoformat(), d(30), d(90)


def cases(heavy, light):
    """(name, path, token kind, store query) for every report timed. The store query is what
    SqliteStore::usage_report receives: (from, to, user, model, group, by_cost, limit, offset)."""
    to, f30, f90 = ranges()
    return [
        ("day, 30 days", f"/api/ai/admin/usage?groupBy=day&from={f30}&to={to}&limit=100", "admin",
         (f30, to, None, None, "day", False, 100, 0)),
        ("day, 90 days", f"/api/ai/admin/usage?groupBy=day&from={f90}&to={to}&limit=100", "admin",
         (f90, to, None, None, "day", False, 100, 0)),
        ("user, 30 days, page 1", f"/api/ai/admin/usage?groupBy=user&from={f30}&to={to}&limit=50", "admin",
         (f30, to, None, None, "user", False, 50, 0)),
        ("user, 30 days, page 3", f"/api/ai/admin/usage?groupBy=user&from={f30}&to={to}&limit=50&cursor=o100",
         "admin", (f30, to, None, None, "user", False, 50, 100)),
        ("costs (top users), 30 days", f"/api/ai/admin/costs?from={f30}&to={to}&limit=50", "admin",
         (f30, to, None, None, "user", True, 50, 0)),
        ("costs (top users), 90 days", f"/api/ai/admin/costs?from={f90}&to={to}&limit=50", "admin",
         (f90, to, None, None, "user", True, 50, 0)),
        ("model, 30 days", f"/api/ai/admin/usage?groupBy=model&from={f30}&to={to}", "admin",
         (f30, to, None, None, "model", False, 50, 0)),
        ("model, 90 days", f"/api/ai/admin/usage?groupBy=model&from={f90}&to={to}", "admin",
         (f90, to, None, None, "model", False, 50, 0)),
        ("userId=heavy, day, 90 days", f"/api/ai/admin/usage?groupBy=day&userId={heavy}&from={f90}&to={to}&limit=100",
         "admin", (f90, to, heavy, None, "day", False, 100, 0)),
        ("userId=light, model, 90 days", f"/api/ai/admin/usage?groupBy=model&userId={light}&from={f90}&to={to}",
         "admin", (f90, to, light, None, "model", False, 50, 0)),
        ("usage/me heavy user, 90 days", f"/api/ai/usage/me?from={f90}&to={to}", "user",
         (f90, to, heavy, None, "model", False, 100, 0)),
    ]


SUMS = ("coalesce(sum(requests), 0), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),"
        " coalesce(sum(cached_input_tokens), 0), coalesce(sum(cache_write_tokens), 0),"
        " coalesce(sum(reasoning_tokens), 0), coalesce(sum(cost_micros), 0),"
        " coalesce(sum(unpriced_requests), 0), coalesce(sum(estimated_requests), 0)")
WHERE = (" FROM usage_daily WHERE day BETWEEN ?1 AND ?2"
         " AND (?3 IS NULL OR user_id = ?3) AND (?4 IS NULL OR model = ?4)")
KEYS = {"user": "user_id", "model": "model", "day": "day"}


def store_sql(group, by_cost, where=WHERE):
    """The two statements of SqliteStore::usage_report, verbatim."""
    order = "sum(cost_micros) DESC, k" if by_cost else "k"
    return ("SELECT " + SUMS + where,
            "SELECT " + KEYS[group] + " AS k, " + SUMS + where + " GROUP BY k ORDER BY " + order +
            " LIMIT ?5 OFFSET ?6")


def run_store_query(db, q, where=WHERE):
    f, t, user, model, group, by_cost, limit, offset = q
    totals_sql, group_sql = store_sql(group, by_cost, where)
    db.execute("BEGIN")
    db.execute(totals_sql, (f, t, user, model)).fetchone()
    rows = db.execute(group_sql, (f, t, user, model, limit + 1, offset)).fetchall()
    db.execute("COMMIT")
    return rows


def stats(xs):
    xs = sorted(xs)
    n = len(xs)
    pct = lambda p: xs[min(n - 1, max(0, math.ceil(p * n) - 1))]
    return {"n": n, "p50": round(statistics.median(xs), 2), "p90": round(pct(0.90), 2),
            "p99": round(pct(0.99), 2), "max": round(xs[-1], 2), "min": round(xs[0], 2),
            "mean": round(statistics.fmean(xs), 2)}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def http_bench(args):
    tokens = {"admin": args.admin_token, "user": args.user_token}
    cs = cases(args.heavy, args.light)
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)

    def get(path, kind):
        t = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": "Bearer " + tokens[kind]})
        resp = conn.getresponse()
        body = resp.read()
        ms = (time.perf_counter() - t) * 1000
        if resp.status != 200:
            sys.exit(f"usage_bench.py http: {path}: {resp.status} {body[:300]!r}")
        return ms, body

    shapes = {}
    for name, path, kind, _ in cs:  # warm-up, and what each answer holds
        for _ in range(args.warmup):
            _, body = get(path, kind)
        doc = json.loads(body)
        doc = doc.get("data", doc)  # the {"success": true, "data": ...} envelope
        items = doc.get("items", doc.get("byModel", []))
        shapes[name] = {"items": len(items), "bytes": len(body), "requests": doc["totals"]["requests"],
                        "nextCursor": doc.get("nextCursor")}
    times = {name: [] for name, *_ in cs}
    load_before = loadavg()
    for _ in range(args.runs):  # rounds: every query once per round, so noise spreads evenly
        for name, path, kind, _ in cs:
            times[name].append(get(path, kind)[0])
    for name, path, kind, _ in cs:
        print(json.dumps({"what": "http", "label": args.label, "store": args.store, "query": name, "path": path,
                          **shapes[name], **stats(times[name]), "loadavgBefore": load_before,
                          "loadavgAfter": loadavg()}))


def sql_bench(args):
    db = sqlite3.connect(args.db, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA query_only=ON")  # the service's readers: default page cache (2 MiB)
    cs = cases(args.heavy, args.light)
    for _, _, _, q in cs:
        for _ in range(args.warmup):
            run_store_query(db, q)
    times = {name: [] for name, *_ in cs}
    load_before = loadavg()
    for _ in range(args.runs):
        for name, _, _, q in cs:
            t = time.perf_counter()
            run_store_query(db, q)
            times[name].append((time.perf_counter() - t) * 1000)
    for name, *_ in cs:
        print(json.dumps({"what": "sql", "query": name, **stats(times[name]),
                          "loadavgBefore": load_before, "loadavgAfter": loadavg()}))
    # Budgets: what the limiter reads once per user and period (the month so far).
    to, _, _ = ranges()
    month = to[:8] + "01"
    xs = []
    for _ in range(args.runs):
        t = time.perf_counter()
        db.execute("SELECT coalesce(sum(cost_micros), 0) FROM usage_daily WHERE user_id = ?1 AND day >= ?2",
                   (args.heavy, month)).fetchone()
        xs.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"what": "sql", "query": "spent_micros heavy user, month", **stats(xs)}))


def plans(args):
    db = sqlite3.connect(args.db, isolation_level=None)
    to, f30, f90 = ranges()
    seen = set()
    for name, _, _, q in cases(args.heavy, args.heavy):
        f, t, user, model, group, by_cost, limit, offset = q
        for which, sql in zip(("totals", "grouped"), store_sql(group, by_cost)):
            key = (sql, user is None)
            if key in seen:
                continue
            seen.add(key)
            plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql, (f, t, user, model, limit + 1, offset)[
                : 4 if which == "totals" else 6])]
            print(json.dumps({"what": "plan", "query": name, "statement": which, "plan": plan}))


# Candidate fixes, cumulative, each timed inside a transaction that is rolled back (the database is
# unchanged). A variant is (name, DDL/PRAGMAs run first, how the report is queried).
COLS = ["requests", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
        "reasoning_tokens", "cost_micros", "unpriced_requests", "estimated_requests"]
COVER_DAY = ("CREATE INDEX usage_daily_day_cover ON usage_daily (day, user_id, model, " + ", ".join(COLS) + ")")
WITHOUT_ROWID = [
    "CREATE TABLE usage_daily_c (day TEXT NOT NULL, user_id TEXT NOT NULL, model TEXT NOT NULL, " +
    ", ".join(c + " INTEGER NOT NULL" for c in COLS) + ", PRIMARY KEY (day, user_id, model)) WITHOUT ROWID",
    "INSERT INTO usage_daily_c SELECT * FROM usage_daily",
    "DROP TABLE usage_daily",
    "ALTER TABLE usage_daily_c RENAME TO usage_daily",
    "CREATE INDEX usage_daily_user_day ON usage_daily (user_id, day)",
]
# A second, much smaller rollup without the user: what unfiltered day/model reports and every
# unfiltered total need (one more upsert in insert_usage; days x models rows).
DAY_MODEL = [
    "CREATE TABLE usage_daily_model (day TEXT NOT NULL, model TEXT NOT NULL, " +
    ", ".join(c + " INTEGER NOT NULL" for c in COLS) + ", PRIMARY KEY (day, model)) WITHOUT ROWID",
    "INSERT INTO usage_daily_model SELECT day, model, " + ", ".join(f"sum({c})" for c in COLS) +
    " FROM usage_daily GROUP BY day, model",
]
WINDOW_TOTALS = ", ".join(f"coalesce(sum(sum({c})) OVER (), 0)" for c in COLS)


def shaped_sql(q, per_filter, one_statement, day_model):
    """The report's statements in a given shape, with named parameters."""
    f, t, user, model, group, by_cost, limit, offset = q
    table = "usage_daily_model" if (day_model and user is None and group != "user") else "usage_daily"
    where = f" FROM {table} WHERE day BETWEEN :from AND :to"
    if per_filter:  # the SQL text built for the filters given: an index on user_id can be used
        where += (" AND user_id = :user" if user is not None else "") + (" AND model = :model" if model is not None else "")
    else:
        where += " AND (:user IS NULL OR user_id = :user) AND (:model IS NULL OR model = :model)"
    order = "sum(cost_micros) DESC, k" if by_cost else "k"
    grouped = ("SELECT " + KEYS[group] + " AS k, " + SUMS + (", " + WINDOW_TOTALS if one_statement else "") +
               where + " GROUP BY k ORDER BY " + order + " LIMIT :limit OFFSET :offset")
    totals = None
    if not one_statement:
        totals = "SELECT " + SUMS + where
    elif day_model and user is None and table == "usage_daily":
        totals = None  # still one scan of usage_daily: the window totals come with the page
    return totals, grouped


def run_shaped(db, q, shape):
    f, t, user, model, group, by_cost, limit, offset = q
    params = {"from": f, "to": t, "user": user, "model": model, "limit": limit + 1, "offset": offset}
    totals, grouped = shaped_sql(q, *shape)
    if totals:
        db.execute(totals, params).fetchone()
    rows = db.execute(grouped, params).fetchall()
    if shape[1] and not rows:  # a page past the end: the totals need their own query
        db.execute("SELECT " + SUMS + " FROM usage_daily WHERE day BETWEEN :from AND :to", params).fetchone()
    return rows


def fixes(args):
    cs = cases(args.heavy, args.light)
    big_cache = "PRAGMA cache_size=-32768"  # 32 MiB per reader: the GROUP BY sorter stays in memory
    variants = [
        # name, DDL, (per_filter, one_statement, day_model)
        ("0 as is (2 statements, `?3 IS NULL OR user_id = ?3`)", [], (False, False, False)),
        ("1 + SQL built per filter (`AND user_id = ?` only when given)", [], (True, False, False)),
        ("2 + one statement (totals as window sums over the groups)", [], (True, True, False)),
        ("3 + reader cache_size=-32768 (32 MiB)", [big_cache], (True, True, False)),
        ("4 + covering index on (day, user_id, model, all sums)", [big_cache, COVER_DAY], (True, True, False)),
        ("4b + usage_daily WITHOUT ROWID instead of the covering index", [big_cache] + WITHOUT_ROWID,
         (True, True, False)),
        ("5 = 4 + usage_daily_model (day, model) rollup for unfiltered day/model",
         [big_cache, COVER_DAY] + DAY_MODEL, (True, True, True)),
        ("6 covering index only (the SQL as is, cache as is)", [COVER_DAY], (False, False, False)),
    ]
    for vname, ddl, shape in variants:
        db = sqlite3.connect(args.db, isolation_level=None)
        db.execute("BEGIN")
        t = time.perf_counter()
        for s in ddl:
            db.execute(s)
        build_ms = (time.perf_counter() - t) * 1000
        for name, _, _, q in cs:
            # Same answer as the store's query (the page's rows), checked once per variant and query.
            ref = run_store_query_in_tx(db, q, WHERE)
            got = run_shaped(db, q, shape)
            same = [r[:10] for r in got] == [r[:10] for r in ref]
            for _ in range(args.warmup):
                run_shaped(db, q, shape)
            xs = []
            for _ in range(args.runs):
                t = time.perf_counter()
                run_shaped(db, q, shape)
                xs.append((time.perf_counter() - t) * 1000)
            f, to, user, model, group, by_cost, limit, offset = q
            params = {"from": f, "to": to, "user": user, "model": model, "limit": limit + 1, "offset": offset}
            plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + shaped_sql(q, *shape)[1], params)]
            print(json.dumps({"what": "fix", "variant": vname, "query": name, "buildMs": round(build_ms),
                              "sameRows": same, **stats(xs), "plan": plan}), flush=True)
        db.execute("ROLLBACK")
        db.close()


def run_store_query_in_tx(db, q, where):
    f, t, user, model, group, by_cost, limit, offset = q
    totals_sql, group_sql = store_sql(group, by_cost, where)
    db.execute(totals_sql, (f, t, user, model)).fetchone()
    return db.execute(group_sql, (f, t, user, model, limit + 1, offset)).fetchall()


def summary(args):
    http_, sql_, fix, gen, other = {}, {}, {}, None, []
    with open(args.results) as f:
        for line in f:
            d = json.loads(line)
            if d["what"] == "http":
                http_.setdefault(d.get("label", "new"), {}).setdefault(d["query"], []).append(d)
            elif d["what"] == "sql":
                sql_[d["query"]] = d
            elif d["what"] == "fix":
                fix.setdefault(d["variant"], {})[d["query"]] = d
            elif d["what"] == "generate":
                gen = d
            elif d["what"] in ("db", "meta", "busy", "memory", "migration13", "check-rollups", "pgcheck"):
                other.append(d)
    for d in other:
        print(json.dumps(d))
    if gen:
        print(f"ledger {gen['rows']:,} rows, rollup {gen['rollupRows']:,} rows "
              f"({gen['rollupRowsLast30Days']:,} in the last 30 days), {gen['users']} users, "
              f"{gen['from']}..{gen['to']}; heavy user {gen['heavyUser']} ({gen['heavyUserCalls']:,} calls, "
              f"{gen['heavyUserRollupRows']} rollup rows); rollup check ok: {gen['check']['ok']}")
    aim = args.aim_ms
    print(f"{'query':32} {'items':>5} | {'HTTP p50':>8} {'p99':>8} {'max':>8} | {'SQL p50':>8} {'p99':>8} {'max':>8} | aim {aim:g} ms (p50)")
    # A label timed in several phases (USAGE_OLD_BIN: old, new, old, new): the median of the
    # phases' p50 and p99, and the worst max.
    merged = {}
    for label, qs in http_.items():
        for q, ds in qs.items():
            merged.setdefault(label, {})[q] = {"items": ds[0]["items"], "p50": round(statistics.median(d["p50"] for d in ds), 2),
                                               "p99": round(statistics.median(d["p99"] for d in ds), 2),
                                               "max": max(d["max"] for d in ds), "phases": len(ds)}
    new = merged.get("new", {})
    for label, qs in merged.items():
        print(f"-- {label} ({next(iter(qs.values()))['phases']} phase(s))")
        for q, h in qs.items():
            sq = sql_.get(q, {}) if label == "new" else {}
            print(f"{q:32} {h['items']:>5} | {h['p50']:>8} {h['p99']:>8} {h['max']:>8} | "
                  f"{sq.get('p50', '-'):>8} {sq.get('p99', '-'):>8} {sq.get('max', '-'):>8} | "
                  f"{'met' if h['p50'] <= aim else 'MISSED'}{'' if h['p99'] <= aim else ' (p99 over)'}")
    if "old" in merged and new:
        print("NEW/OLD (p50, p99):")
        for q, o in merged["old"].items():
            if q in new:
                print(f"  {q:32} {new[q]['p50'] / o['p50']:.3f} {new[q]['p99'] / o['p99']:.3f}")
    for q, sq in sql_.items():
        if q not in new:
            print(f"{q:32} {'':>5} | {'':>8} {'':>8} {'':>8} | {sq['p50']:>8} {sq['p99']:>8} {sq['max']:>8} |")
    if fix:
        names = list(next(iter(fix.values())))
        print("\ncandidate fixes, cumulative, SQL p50 ms (inside a rolled-back transaction; ! = other rows than the store query):")
        print(f"{'variant':58} " + " ".join(f"{i + 1:>7}" for i in range(len(names))))
        for v, qs in fix.items():
            print(f"{v[:58]:58} " + " ".join(f"{qs[n]['p50']:>7}" + ("" if qs[n].get("sameRows", True) else "!")
                                             for n in names))
        print("  columns: " + "; ".join(f"{i + 1} = {n}" for i, n in enumerate(names)))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--db", required=True)
    g.add_argument("--rows", type=int, default=1_000_000)
    g.add_argument("--users", type=int, default=2000)
    g.add_argument("--days", type=int, default=90)
    g.add_argument("--seed", type=int, default=4)
    h = sub.add_parser("http")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--admin-token", required=True)
    h.add_argument("--user-token", required=True)
    h.add_argument("--label", default="new")
    h.add_argument("--store", default="sqlite")
    c = sub.add_parser("check-rollups")
    c.add_argument("--db", required=True)
    for name in ("http", "sql", "plans", "fixes"):
        s = h if name == "http" else sub.add_parser(name)
        s.add_argument("--heavy", required=True)
        s.add_argument("--light", required=name != "plans")
        if name != "http":
            s.add_argument("--db", required=True)
        s.add_argument("--runs", type=int, default=30)
        s.add_argument("--warmup", type=int, default=3)
    sm = sub.add_parser("summary")
    sm.add_argument("results")
    sm.add_argument("--aim-ms", type=float, default=100)
    args = p.parse_args()
    if args.cmd == "generate" and args.users > 2047:
        sys.exit("at most 2047 users")
    {"generate": generate, "check-rollups": check_rollups, "http": http_bench, "sql": sql_bench, "plans": plans, "fixes": fixes,
     "summary": summary}[args.cmd](args)


if __name__ == "__main__":
    main()
