#!/usr/bin/python3
"""How much CPU processes other than the benchmark's own used while it ran (the machine is shared).

    other_cpu.py OUT.json OWN_PID [OWN_PID...]

A process is the benchmark's own when one of the OWN_PIDs (the run script, the PostgreSQL
postmaster) is it or an ancestor. The others' CPU time is the machine's busy time (/proc/stat)
less the own processes' (user + system, their reaped children's included); their names come from
sampling /proc/*/stat every 2 s. On SIGTERM writes to OUT.json the seconds sampled, the CPU
seconds the others used and the busiest of them by command name.
"""
import json
import os
import signal
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def read_procs():
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[1] = ppid, [11] utime, [12] stime, [13] cutime, [14] cstime (stat(5) fields 4, 14-17)
        procs[int(name)] = (int(fields[1]), comm, int(fields[11]) + int(fields[12]),
                            int(fields[13]) + int(fields[14]))
    return procs


def machine_busy():
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq


def own_pids(procs, roots, me):
    own = set()
    for pid in procs:
        p, depth = pid, 0
        while p > 1 and depth < 64:
            if p in roots or p == me:
                own.add(pid)
                break
            p = procs.get(p, (0, "", 0, 0))[0]
            depth += 1
    return own


def main():
    out = sys.argv[1]
    roots = {int(p) for p in sys.argv[2:]}
    me = os.getpid()
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    def own_total(procs):
        own = own_pids(procs, roots, me)
        return own, sum(procs[p][2] + procs[p][3] for p in own)

    start = time.monotonic()
    busy0 = machine_busy()
    last = read_procs()
    _, own0 = own_total(last)
    own_last = own0
    by_comm = {}
    while not stop:
        time.sleep(2)
        now = read_procs()
        own, own_last = own_total(now)
        for pid, (ppid, comm, ticks, _) in now.items():
            if pid in own:
                continue
            before = last.get(pid)
            used = ticks - (before[2] if before and before[1] == comm else 0)
            if used > 0:
                by_comm[comm] = by_comm.get(comm, 0) + used
        last = now
    seconds = time.monotonic() - start
    total = max(0, (machine_busy() - busy0) - (own_last - own0)) / TICKS
    busiest = sorted(by_comm.items(), key=lambda kv: -kv[1])[:4]
    with open(out, "w", encoding="utf-8") as f:
        json.dump(
            {
                "seconds": round(seconds, 1),
                "cpu_seconds": round(total, 1),
                "cpus_busy": round(total / seconds, 2) if seconds > 0 else 0,
                "busiest": [[c, round(t / TICKS, 1)] for c, t in busiest],
            },
            f,
        )
        f.write("\n")


if __name__ == "__main__":
    main()
