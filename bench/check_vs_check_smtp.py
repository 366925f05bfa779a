#!/usr/bin/env python3
"""smtpwatch check against check_smtp, side by side: verified STARTTLS (smtpwatch verifies the
chain, `check_smtp -S` does not) and plaintext, the same dialogue on both sides. For each pair: alternating runs with the median
wall and CPU time per run (CPU = user + system of the child, os.wait4 rusage, start-up
included), then instructions counted by valgrind's callgrind (median of three runs; repeatable
where time is not on this machine).
"""
import argparse
import os
import re
import statistics
import subprocess
import time


def measure(argv):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{argv[0]} exited {code}: {out.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime, out.decode(errors="replace").strip()


def instructions(argv):
    """Instructions the program executed (valgrind callgrind, all of it: start-up included)."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        raise SystemExit(f"callgrind of {argv[0]} failed: {proc.stderr[-400:]}")
    return int(found.group(1))


def compare(title, commands, runs):
    samples = {name: {"wall": [], "cpu": []} for name in commands}
    last = {}
    for argv in commands.values():  # one warm-up run each (page cache, the server's processes)
        measure(argv)
    for _ in range(runs):
        for name, argv in commands.items():
            wall, cpu, out = measure(argv)
            samples[name]["wall"].append(wall)
            samples[name]["cpu"].append(cpu)
            last[name] = out
    counts = {name: statistics.median(instructions(argv) for _ in range(3))
              for name, argv in commands.items()}
    print(f"== {title}: {runs} alternating runs each")
    for name in commands:
        print(f"  {name:<10} last output: {last[name][:100]}")
    medians = {n: {k: statistics.median(v) for k, v in s.items()} for n, s in samples.items()}
    print(f"  {'':<12}{'median wall':>14}{'median CPU':>14}{'instructions':>16}")
    for name, m in medians.items():
        print(f"  {name:<12}{m['wall'] * 1000:>12.2f}ms{m['cpu'] * 1000:>12.2f}ms"
              f"{counts[name] / 1e6:>15.2f}M")
    ours, theirs = "smtpwatch", "check_smtp"
    print(f"  ratio smtpwatch/check_smtp: wall {medians[ours]['wall'] / medians[theirs]['wall']:.2f},"
          f" CPU {medians[ours]['cpu'] / medians[theirs]['cpu']:.2f},"
          f" instructions {counts[ours] / counts[theirs]:.2f}")
    return medians[theirs]


def floor(runs, check_smtp, name, argv, why):
    """What a check cannot go below, measured like the checks: `why` says what it leaves out.
    It bounds every ratio from below."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu, _ = measure(argv)
        walls.append(wall)
        cpus.append(cpu)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    print(f"== floor: {name} ({why}), {runs} runs: wall {wall * 1000:.2f}ms, CPU {cpu * 1000:.2f}ms;"
          f" as a share of plaintext check_smtp: wall {wall / check_smtp['wall']:.2f},"
          f" CPU {cpu / check_smtp['cpu']:.2f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=int)
    parser.add_argument("--smtpwatch", required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--target", default="127.0.0.1")
    parser.add_argument("--port", default="2525")
    parser.add_argument("--floor-client", help="bench/floor_client.c, built")
    args = parser.parse_args()
    address = f"{args.target}:{args.port}"
    # The same dialogue on both sides: check_smtp sends EHLO (again after STARTTLS) and QUIT, no
    # NOOP, so smtpwatch leaves its NOOP out too (a round trip of the server's time).
    same_dialogue = ["--no-noop"]
    plugin = ["/usr/lib/nagios/plugins/check_smtp", "-H", args.target, "-p", args.port]
    compare("verified STARTTLS", {
        "smtpwatch": [args.smtpwatch, "check", address, "--tls", "starttls",
                      "--ca-file", args.ca_file, "--server-name", "localhost",
                      "--format", "nagios", *same_dialogue],
        "check_smtp": [*plugin, "-S"],
    }, args.runs)
    plain = compare("plaintext", {
        "smtpwatch": [args.smtpwatch, "check", address, "--tls", "none", "--format", "nagios",
                      *same_dialogue],
        "check_smtp": plugin,
    }, args.runs)
    floor(args.runs, plain, "/bin/true", ["/bin/true"], "starting a process at all")
    if args.floor_client:
        floor(args.runs, plain, "floor_client", [args.floor_client, args.target, args.port],
              "the same dialogue in C and nothing else")


if __name__ == "__main__":
    main()
