# Where a running process's resident memory is, as one JSON line (issue 16's per-stream breakdown):
#   python3 bench/streams/memstat.py PID [--malloc]
# From /proc/PID/smaps: resident KiB of the main heap ([heap]), of glibc's other arenas (anonymous
# mappings starting on a 64 MiB boundary: a thread's arena heap), of thread stacks (anonymous
# mappings right above a 4 KiB guard page), of other anonymous mappings (malloc's mmapped chunks,
# ...) and of files (the binary, the libraries). With --malloc, gdb attaches for a moment and calls
# malloc_info(): per arena the bytes obtained from the system, the bytes free in its bins and so
# the bytes in use (system - free).
import json, os, re, subprocess, sys, tempfile

pid = int(sys.argv[1])
maps = []  # (start, end, perms, name, rss_kib)
cur = None
for line in open(f"/proc/{pid}/smaps"):
    head = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
    if head:
        cur = [int(head[1], 16), int(head[2], 16), head[3], head[4].strip(), 0]
        maps.append(cur)
    elif line.startswith("Rss:"):
        cur[4] = int(line.split()[1])

out = {"heap": 0, "arenas": 0, "stacks": 0, "otherAnon": 0, "files": 0, "stackCount": 0, "arenaCount": 0}
for i, (start, end, perms, name, rss) in enumerate(maps):
    if name == "[heap]":
        out["heap"] += rss
    elif name.startswith("[stack"):
        out["stacks"] += rss
        out["stackCount"] += 1
    elif name.startswith("/") or name.startswith("["):
        out["files"] += rss
    elif start % (64 << 20) == 0 and perms.startswith("rw"):
        out["arenas"] += rss
        out["arenaCount"] += 1
    elif perms.startswith("rw") and i > 0 and maps[i - 1][1] == start and maps[i - 1][2] == "---p" \
            and maps[i - 1][1] - maps[i - 1][0] == 4096:
        out["stacks"] += rss
        out["stackCount"] += 1
    else:
        out["otherAnon"] += rss
out["rss"] = sum(m[4] for m in maps)

if "--malloc" in sys.argv:
    fd, path = tempfile.mkstemp(suffix=".xml")
    os.close(fd)
    os.chmod(path, 0o666)
    subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx",
                    "-ex", f'call (void*)((void*(*)(const char*, const char*))fopen)("{path}", "w")',
                    "-ex", "call (int)((int(*)(int, void*))malloc_info)(0, $1)",
                    "-ex", "call (int)((int(*)(void*))fclose)($1)"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=60)
    xml = open(path).read()
    os.unlink(path)
    arenas = []
    for heap in re.findall(r'<heap nr="\d+">(.*?)</heap>', xml, re.S):
        free = sum(int(s) for s in re.findall(r'<total type="(?:fast|rest)" count="\d+" size="(\d+)"/>', heap))
        system = int(re.search(r'<system type="current" size="(\d+)"/>', heap)[1])
        arenas.append({"systemKiB": system // 1024, "freeKiB": free // 1024, "inUseKiB": (system - free) // 1024})
    tail = xml.rsplit("</heap>", 1)[-1]
    mmapped = re.search(r'<total type="mmap" count="(\d+)" size="(\d+)"/>', tail)
    out["malloc"] = {
        "arenas": arenas,
        "inUseKiB": sum(a["inUseKiB"] for a in arenas),
        "freeKiB": sum(a["freeKiB"] for a in arenas),
        "systemKiB": sum(a["systemKiB"] for a in arenas),
        "mmappedChunks": int(mmapped[1]) if mmapped else 0,
        "mmappedKiB": int(mmapped[2]) // 1024 if mmapped else 0,
    }
print(json.dumps(out))
