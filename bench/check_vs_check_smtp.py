#!/usr/bin/env python3
"""Alternating runs of smtpwatch check and check_smtp -S; median wall and CPU time per run.

CPU time is user + system of the child process (os.wait4 rusage), start-up included.
"""
import argparse
import os
import statistics
import subprocess
import time


def measure(argv):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {proc.returncode}: {out.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime, out.decode(errors="replace").strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=int)
    parser.add_argument("--smtpwatch", required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--target", default="127.0.0.1")
    parser.add_argument("--port", default="2525")
    args = parser.parse_args()
    commands = {
        "smtpwatch": [args.smtpwatch, "check", f"{args.target}:{args.port}", "--tls", "starttls",
                      "--ca-file", args.ca_file, "--server-name", "localhost",
                      "--format", "nagios"],
        "check_smtp": ["/usr/lib/nagios/plugins/check_smtp", "-H", args.target, "-p", args.port,
                       "-S"],
    }
    samples = {name: {"wall": [], "cpu": []} for name in commands}
    last = {}
    for name, argv in commands.items():  # one warm-up run each (page cache, Postfix processes)
        measure(argv)
    for _ in range(args.runs):
        for name, argv in commands.items():
            wall, cpu, out = measure(argv)
            samples[name]["wall"].append(wall)
            samples[name]["cpu"].append(cpu)
            last[name] = out
    print(f"{args.runs} alternating runs each against {args.target}:{args.port}")
    for name in commands:
        print(f"  {name:<10} last output: {last[name][:110]}")
    medians = {n: {k: statistics.median(v) for k, v in s.items()} for n, s in samples.items()}
    print(f"{'':<12}{'median wall':>14}{'median CPU':>14}")
    for name, m in medians.items():
        print(f"{name:<12}{m['wall'] * 1000:>12.2f}ms{m['cpu'] * 1000:>12.2f}ms")
    wall_ratio = medians["smtpwatch"]["wall"] / medians["check_smtp"]["wall"]
    cpu_ratio = medians["smtpwatch"]["cpu"] / medians["check_smtp"]["cpu"]
    print(f"ratio smtpwatch/check_smtp: wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f}")


if __name__ == "__main__":
    main()
