#!/usr/bin/env python3
"""A verified STARTTLS probe of the same Postfix, side by side: smtpwatch's /probe against
blackbox_exporter's /probe (tcp prober scripted for SMTP: EHLO, STARTTLS, EHLO, QUIT, the
certificate verified against the same CA). Both servers run here on loopback; requests
alternate in batches over kept-alive connections. CPU per probe is the server process's
user + system time (/proc/PID/stat) over the run divided by the probes it made; every answer
must say probe_success 1. Each run also runs the floors (--floor NAME=COMMAND): bare clients
of the same dialogue that print their own CPU milliseconds per dialogue, given the probe count
as their last argument; they say how low any probe can go on this machine.
"""
import argparse
import http.client
import os
import shlex
import subprocess
import statistics
import time


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probe(conn, path):
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    if response.status != 200 or "\nprobe_success 1" not in "\n" + body:
        raise SystemExit(f"{path}: {response.status}\n{body[:600]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--smtpwatch", required=True, help="HOST:PORT PID")
    parser.add_argument("--blackbox", required=True, help="HOST:PORT PID")
    parser.add_argument("--target", default="127.0.0.1:2525")
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--floor", action="append", default=[], help="NAME=COMMAND")
    args = parser.parse_args()
    floors = dict(f.split("=", 1) for f in args.floor)
    floor_results = {name: [] for name in floors}
    sides = {
        "smtpwatch": (args.smtpwatch, f"/probe?module=smtp_starttls&target={args.target}"),
        "blackbox_exporter": (args.blackbox, f"/probe?module=smtp_starttls&target={args.target}"),
    }
    results = {name: [] for name in sides}
    batch = 50
    for run in range(args.runs):
        spent = {name: 0.0 for name in sides}
        for name, (where, path) in sides.items():  # warm-up: connections, caches
            address, _ = where.split()
            probe(http.client.HTTPConnection(address, timeout=10), path)
        conns = {n: http.client.HTTPConnection(w.split()[0], timeout=10) for n, (w, _) in sides.items()}
        for _ in range(args.probes // batch):
            for name, (where, path) in sides.items():
                pid = int(where.split()[1])
                before = cpu_seconds(pid)
                for _ in range(batch):
                    probe(conns[name], path)
                spent[name] += cpu_seconds(pid) - before
        for name in sides:
            results[name].append(spent[name] / args.probes * 1000)
        for name, command in floors.items():
            out = subprocess.run(shlex.split(command) + [str(args.probes)], check=True,
                                 capture_output=True, text=True).stdout
            floor_results[name].append(float(out.split()[-1]))
        print(f"run {run + 1}: " + ", ".join(f"{n} {results[n][-1]:.3f} ms CPU per probe" for n in sides)
              + "".join(f", floor {n} {floor_results[n][-1]:.3f} ms" for n in floors))
    ours = statistics.median(results["smtpwatch"])
    theirs = statistics.median(results["blackbox_exporter"])
    print(f"median of {args.runs} runs of {args.probes} probes each: smtpwatch {ours:.3f} ms, "
          f"blackbox_exporter {theirs:.3f} ms, ratio {ours / theirs:.2f}")
    for name, values in floor_results.items():
        floor = statistics.median(values)
        print(f"floor {name}: {floor:.3f} ms per dialogue ({floor / theirs:.2f} of blackbox_exporter; "
              f"smtpwatch adds {ours - floor:+.3f} ms)")


if __name__ == "__main__":
    main()
