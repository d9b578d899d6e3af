# Resident memory of a running process per mapped file (Rss, anonymous), largest first:
#   python3 bench/idle/smaps.py PID [N=40]   (reads /proc/PID/smaps)
import sys, collections
pid = sys.argv[1]
agg = collections.defaultdict(lambda: collections.Counter())
cur = None
for line in open(f"/proc/{pid}/smaps"):
    parts = line.split()
    if not parts[0].endswith(":") or "-" in parts[0]:
        name = parts[5] if len(parts) > 5 else ("[anon]" if len(parts) == 5 else parts[-1])
        cur = agg[name.split("/")[-1]]
        continue
    if parts[0] in ("Rss:", "Pss:", "Anonymous:", "Private_Dirty:"):
        cur[parts[0]] += int(parts[1])
tot = collections.Counter()
for n, c in agg.items(): tot.update(c)
print("TOTAL Rss %.2f MiB Anon %.2f MiB Pss %.2f" % (tot["Rss:"]/1024, tot["Anonymous:"]/1024, tot["Pss:"]/1024))
for n, c in sorted(agg.items(), key=lambda kv: -kv[1]["Rss:"])[:int(sys.argv[2]) if len(sys.argv)>2 else 40]:
    print("%8d kB rss %8d anon  %s" % (c["Rss:"], c["Anonymous:"], n))
