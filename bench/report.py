#!/usr/bin/env python3
"""Turns bench/run's raw rows (TSV) and run description (META) into Markdown tables, a target
check and a gnuplot bar chart of each tool's time divided by pnsync's. Scenarios 5 and 6 (a
per-connection limit) get their own table: seconds, ratio to the best peer, fraction of the
ceiling (cap x rate) and the delay proxy's connection counters.

  report.py --tsv RUN.tsv --meta RUN.meta --md RUN.md [--png RUN.png]
"""

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile

PROG = "report.py"
SCENARIOS = ["1", "2", "3", "4", "5", "6"]
# Scenarios behind a per-connection limit: a ceiling of cap x rate, judged against the best peer.
CAPPED = ("5", "6")
PEERS = ("aria2", "rclone", "wget")
# Rows that are not peers but what the machine allows: curl fetching the same files and hashing
# nothing (to /dev/null, or to disk for curl-disk).
CEILINGS = ("curl", "curl-parallel", "curl-disk", "curl-disk-sync", "curl-per-file")
# bench/run's proxy_counters note (scenarios 5 and 6)
PROXY_NOTE = re.compile(r"proxy: ((?:[a-z_0-9]+=[0-9.]+ ?)+)")


def tool_label(tool):
    return f"{tool} (ceiling)" if tool in CEILINGS else tool


def read_meta(path):
    meta = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.rstrip("\n").partition("\t")
            meta[key] = value
    return meta


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def aggregate(rows):
    """Rows repeated with --repeat (same scenario, tool, settings) become the run with the
    median time, its notes listing every time; "verified" says how many runs were not."""
    groups = {}
    for row in rows:
        groups.setdefault((row["scenario"], row["tool"], row["settings"]), []).append(row)
    out = []
    for runs in groups.values():
        if len(runs) == 1:
            out.append(runs[0])
            continue
        ordered = sorted(runs, key=lambda r: num(r["seconds"]))
        median = dict(ordered[(len(ordered) - 1) // 2])
        times = ", ".join(f"{num(r['seconds']):.2f}" for r in runs)
        bad = sum(1 for r in runs if not ok(r))
        if bad:
            median["verified"] = f"NO in {bad} of {len(runs)} runs; " + median["verified"]
        failed = sum(1 for r in runs if not exited_ok(r))
        median["notes"] = (f"median of {len(runs)} runs ({times} s)"
                           + (f", {failed} of them did not exit 0 (see the raw rows)" if failed else "")
                           + "; " + median["notes"])
        out.append(median)
    return out


def num(text, default=0.0):
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def fmt_int(value):
    return f"{int(value):,}"


def exited_ok(row):
    return row["rc"] in ("0", "-", "")


def ok(row):
    return exited_ok(row) and (row["verified"].startswith("yes") or row["verified"].startswith("n/a"))


def reference(rows, scenario):
    for row in rows:
        if (row["scenario"] == scenario and row["tool"] == "pnsync" and num(row["seconds"]) > 0
                and row["verified"] != "not yet runnable"):
            return row
    return None


def ratio(row, ref):
    if ref is None or row["verified"] == "not yet runnable" or row["tool"].endswith("-probe"):
        return None
    secs, ref_secs = num(row["seconds"]), num(ref["seconds"])
    if secs <= 0 or ref_secs <= 0:
        return None
    return secs / ref_secs


def table(rows, ref, scenario):
    out = ["| tool | settings | seconds | files/s | MB/s | CPU s | peak RSS MB | requests "
           "| file bodies sent | ratio to pnsync | verified | notes |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|"]
    for row in rows:
        secs = num(row["seconds"])
        runnable = row["verified"] != "not yet runnable"
        probe = row["tool"].endswith("-probe")
        files, size = num(row["files"]), num(row["bytes"])
        fps = f"{files / secs:,.0f}" if secs > 0 and runnable and not probe else "–"
        mbs = (f"{size / secs / 1e6:,.1f}" if secs > 0 and runnable and not probe
               and scenario != "3" else "–")
        r = ratio(row, ref)
        rtxt = f"{r:.2f}×" if r is not None else "–"
        rss = f"{num(row['rss_kb']) / 1024:,.1f}" if num(row["rss_kb"]) > 0 else "–"
        notes = row["notes"].replace("|", "\\|").replace("; ;", ";").rstrip("; ")
        if row["statuses"]:
            notes = f"{notes}; statuses {row['statuses']}" if notes else f"statuses {row['statuses']}"
        if num(row["proxy_cpu_s"]) > 0:
            notes += f"; delay proxy CPU {num(row['proxy_cpu_s']):.1f} s"
        out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            tool_label(row["tool"]), row["settings"].replace("|", "\\|"),
            f"{secs:.2f}" if runnable else "–", fps, mbs,
            row["cpu_s"] if runnable and not probe else "–", rss if runnable else "–",
            fmt_int(num(row["requests"])) if runnable else "–",
            fmt_int(num(row["bodies"])) if runnable and not probe else "–",
            rtxt, row["verified"] if exited_ok(row) else f"{row['verified']}, but exit {row['rc']}",
            notes))
    return out


def proxy_counters(row):
    """The delay proxy's counters from a row's notes (scenarios 5 and 6), or {}."""
    match = PROXY_NOTE.search(row["notes"])
    if not match:
        return {}
    return dict(pair.split("=", 1) for pair in match.group(1).split())


def best_peer(rows, scenario):
    """The fastest verified peer row (aria2, rclone, wget) of a scenario, or None."""
    peers = [r for r in rows if r["scenario"] == scenario and r["tool"] in PEERS and ok(r)
             and num(r["seconds"]) > 0]
    return min(peers, key=lambda r: num(r["seconds"])) if peers else None


def ceiling_fraction(row, meta):
    ceiling = num(meta.get(f"s{row['scenario']}.ceiling"))
    secs = num(row["seconds"])
    if ceiling <= 0 or secs <= 0:
        return None
    return num(row["bytes"]) / secs / ceiling


def capped_table(rows, all_rows, scenario, meta):
    best = best_peer(all_rows, scenario)
    out = ["| tool | settings | seconds | MB/s | of ceiling | ratio to best peer | CPU s "
           "| peak RSS MB | requests | connections: forwarded / peak open / peak waiting "
           "/ given up | open, 2nd half: mean / max | verified | notes |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|"]
    for row in rows:
        secs = num(row["seconds"])
        frac = ceiling_fraction(row, meta)
        r = num(best["seconds"]) / secs if best and secs > 0 else None
        rss = f"{num(row['rss_kb']) / 1024:,.1f}" if num(row["rss_kb"]) > 0 else "–"
        pc = proxy_counters(row)
        conns = (f"{pc.get('admitted', '?')} / {pc.get('peak_open', '?')} / "
                 f"{pc.get('peak_waiting', '?')} / {pc.get('gave_up', '?')}" if pc else "–")
        half = (f"{num(pc['open_2nd_half_mean']):.1f} / {pc.get('open_2nd_half_max', '?')}"
                if "open_2nd_half_mean" in pc else "–")
        notes = PROXY_NOTE.sub("", row["notes"]).replace("|", "\\|").replace("; ;", ";").strip("; ")
        if row["statuses"]:
            notes = f"{notes}; statuses {row['statuses']}" if notes else f"statuses {row['statuses']}"
        if num(row["proxy_cpu_s"]) > 0:
            notes += f"; delay proxy CPU {num(row['proxy_cpu_s']):.1f} s"
        out.append("| {} | {} | {:.2f} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            tool_label(row["tool"]), row["settings"].replace("|", "\\|"), secs,
            f"{num(row['bytes']) / secs / 1e6:,.2f}" if secs > 0 else "–",
            f"{frac:.2f}" if frac is not None else "–",
            f"{r:.2f}×" if r is not None else "–",
            row["cpu_s"], rss, fmt_int(num(row["requests"])), conns, half,
            row["verified"] if exited_ok(row) else f"{row['verified']}, but exit {row['rc']}",
            notes))
    return out


def by_tool(rows, scenario):
    return {r["tool"]: r for r in rows if r["scenario"] == scenario}


def check(label, passed, detail):
    mark = "met" if passed else "**missed**"
    return f"- {label}: {mark} — {detail}"


def targets(rows, meta):
    out = []
    s1 = by_tool(rows, "1")
    if s1:
        peers = [s1[t] for t in ("aria2", "rclone", "lftp") if t in s1 and ok(s1[t])
                 and num(s1[t]["seconds"]) > 0]
        best = min(peers, key=lambda r: num(r["seconds"])) if peers else None
        for name in ("pnsync", "pnsync-tuned", "pnsync-crawl", "pnsync-crawl-tuned"):
            row = s1.get(name)
            if not row or num(row["seconds"]) <= 0:
                continue
            secs = num(row["seconds"])
            if "wget" in s1 and num(s1["wget"]["seconds"]) > 0:
                w = num(s1["wget"]["seconds"]) / secs
                out.append(check(f"S1 {name} ≥ 20× faster than wget", w >= 20, f"{w:.2f}×"))
            if best:
                b = num(best["seconds"]) / secs
                out.append(check(f"S1 {name} ≥ 2× the best peer ({best['tool']})", b >= 2,
                                 f"{b:.2f}×"))
            out.append(check(f"S1 {name} every file verified", ok(row), row["verified"]))
            ceiling = s1.get("curl-parallel")
            if ceiling and num(ceiling["seconds"]) > 0:
                c = num(ceiling["seconds"]) / secs
                out.append(f"- S1 {name} against the curl-parallel ceiling (16 requests in flight, "
                           f"to /dev/null; not a target): {c:.2f}× the ceiling's speed "
                           f"({secs:.2f} s against {num(ceiling['seconds']):.2f} s)")
    s2 = by_tool(rows, "2")
    if s2:
        for name in ("pnsync", "pnsync-tuned"):
            row = s2.get(name)
            if not row or num(row["seconds"]) <= 0:
                continue
            for ceiling in ("curl", "curl-parallel"):
                if ceiling in s2 and num(s2[ceiling]["seconds"]) > 0:
                    r = num(s2[ceiling]["seconds"]) / num(row["seconds"])
                    out.append(check(f"S2 {name} ≥ 0.9× {ceiling} to /dev/null (SHA-256 on)",
                                     r >= 0.9, f"{r:.2f}× ({num(row['bytes']) / num(row['seconds']) / 1e6:.0f} MB/s "
                                     f"against {num(s2[ceiling]['bytes']) / num(s2[ceiling]['seconds']) / 1e6:.0f} MB/s)"))
            for ceiling, what in (("curl-disk", "one after another, written to disk"),
                                  ("curl-disk-sync", "written to disk, then fsynced")):
                disk = s2.get(ceiling)
                if disk and num(disk["seconds"]) > 0:
                    r = num(disk["seconds"]) / num(row["seconds"])
                    out.append(f"- S2 {name} against the {ceiling} ceiling ({what}; not a "
                               f"target): {r:.2f}× the ceiling's throughput "
                               f"({num(row['bytes']) / num(row['seconds']) / 1e6:.0f} MB/s against "
                               f"{num(disk['bytes']) / num(disk['seconds']) / 1e6:.0f} MB/s)")
    s3 = by_tool(rows, "3")
    if s3:
        for name in ("pnsync", "pnsync-tuned", "pnsync-crawl"):
            row = s3.get(name)
            if not row or num(row["seconds"]) <= 0:
                continue
            bodies = int(num(row["bodies"]))
            # The manifest itself is fetched on every pass; count it apart.
            out.append(check(f"S3 {name} no file re-downloaded", bodies <= 1 and ok(row),
                             f"{bodies} file bodies sent (SHA256SUMS.txt included), "
                             f"{fmt_int(num(row['requests']))} requests"))
            files = num(row["files"])
            secs = num(row["seconds"])
            if files >= 10000:
                out.append(check(f"S3 {name} < 1 s for 10,000 verified files", secs < 1,
                                 f"{secs:.2f} s for {fmt_int(files)} files"))
            else:
                out.append(f"- S3 {name} < 1 s for 10,000 verified files: not evaluated at this "
                           f"size — {secs:.2f} s for {fmt_int(files)} files (run without --quick)")
    s4 = [r for r in rows if r["scenario"] == "4"]
    if s4:
        if s4[0]["verified"] == "not yet runnable":
            out.append(f"- S4: **not yet runnable** — {s4[0]['notes']}")
            for probe in (r for r in s4 if r["tool"].endswith("-probe")):
                out.append(f"- S4 diagnostic without selection: planning every entry took "
                           f"{num(probe['seconds']):.1f} s with a peak RSS of "
                           f"{num(probe['rss_kb']) / 1024:,.0f} MB (targets with selection: "
                           f"< 5 s, < 64 MB)")
        else:
            first = s4[0]
            second = s4[1] if len(s4) > 1 else None
            rss = max(num(r["rss_kb"]) for r in s4) / 1024
            out.append(check("S4 peak RSS < 64 MB", rss < 64, f"{rss:.1f} MB"))
            if second:
                out.append(check("S4 planning < 5 s (second pass: plan only)",
                                 num(second["seconds"]) < 5, f"{num(second['seconds']):.2f} s"))
            out.append(check("S4 selection fetched and verified", ok(first), first["verified"]))
    for scenario in CAPPED:
        srows = by_tool(rows, scenario)
        best = best_peer(rows, scenario)
        for name in ("pnsync", "pnsync-fixed"):
            row = srows.get(name)
            if not row or num(row["seconds"]) <= 0:
                continue
            frac = ceiling_fraction(row, meta)
            parts = [f"{num(row['seconds']):.2f} s"]
            if frac is not None:
                parts.append(f"{frac:.2f} of the ceiling")
            if best:
                parts.append(f"{num(best['seconds']) / num(row['seconds']):.2f}× the best peer "
                             f"({best['tool']}, {num(best['seconds']):.2f} s)")
            pc = proxy_counters(row)
            if pc:
                parts.append(f"{pc.get('admitted', '?')} connections forwarded, peak "
                             f"{pc.get('peak_open', '?')} open of {pc.get('cap', '?')}, "
                             f"{pc.get('gave_up', '?')} given up while waiting")
            parts.append("verified" if ok(row) else f"**not verified**: {row['verified']}")
            out.append(f"- S{scenario} {name} (not a target): " + "; ".join(parts))
    return out


def chart(rows, png, meta):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print(f"{PROG}: gnuplot not found: no chart", file=sys.stderr)
        return False
    points = []  # (x, label, ratio, colour)
    x = 0
    for scenario in SCENARIOS:
        ref = reference(rows, scenario)
        added = False
        for row in rows:
            if row["scenario"] != scenario:
                continue
            r = ratio(row, ref)
            if r is not None:
                colour = ("0xd9822b" if row["tool"].startswith("pnsync")
                          else "0x999999" if row["tool"] in CEILINGS else "0x3a6ea5")
                points.append((x, f"S{scenario} {tool_label(row['tool'])}", r, colour))
                x += 1
                added = True
        if added:
            x += 1
    if not points:
        return False
    listing = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True)
    terminals = listing.stdout + listing.stderr
    term = "pngcairo size 1400,700 font ',10'" if "pngcairo" in terminals else "png size 1400,700"
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "ratios.dat")
        with open(data, "w") as handle:
            for x, label, value, colour in points:
                handle.write(f'{x} "{label}" {value:.4f} {colour}\n')
        script = os.path.join(tmp, "chart.gp")
        low = min(p[2] for p in points)
        high = max(p[2] for p in points)
        with open(script, "w") as handle:
            handle.write(f"""set terminal {term}
set output '{png}'
set title "pnsync benchmark ({meta.get('run.mode', '?')}, {meta.get('run.date', '')}): each tool's time divided by pnsync's (default settings) in the same scenario; above 1 = pnsync faster"
set style fill solid 0.85 border -1
set boxwidth 0.75
set xrange [-1:{points[-1][0] + 1}]
set logscale y
set yrange [{min(low, 1) / 1.5}:{max(high, 1) * 2}]
set ylabel "time / pnsync time (log scale)"
set xtics rotate by -50 scale 0
set grid ytics
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 2 lc rgb "#444444"
plot '{data}' using 1:3:4:xtic(2) with boxes lc rgb variable notitle, \\
     '' using 1:3:(sprintf("%.2f", $3)) with labels offset 0,0.8 notitle
""")
        result = subprocess.run([gnuplot, script], capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{PROG}: gnuplot failed: {result.stderr.strip()}", file=sys.stderr)
            return False
    return True


def main(argv):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--tsv", required=True)
    parser.add_argument("--meta", required=True)
    parser.add_argument("--md", required=True)
    parser.add_argument("--png")
    args = parser.parse_args(argv)
    rows = aggregate(read_rows(args.tsv))
    meta = read_meta(args.meta)

    md = [f"# pnsync benchmark: {meta.get('run.mode', '?')} run, {meta.get('run.date', '')}", "",
          f"Command: `{meta.get('run.command', 'bench/run').strip()}`; added RTT "
          f"{meta.get('run.rtt', '?')} ms where noted; pnsync-tuned settings: "
          f"`{meta.get('run.tuned', '')}`; scheduling priority (nice) {meta.get('run.nice', '0')}; "
          f"runs per row: {meta.get('run.repeat', '1')}.",
          "", "## Machine", ""]
    md.append(f"- CPU: {meta.get('machine.cpu', '?')}, nproc = {meta.get('machine.nproc', '?')}; "
              f"memory {meta.get('machine.memory', '?')}")
    md.append(f"- {meta.get('machine.os', '?')}, kernel {meta.get('machine.kernel', '?')}")
    md.append(f"- file system: {meta.get('machine.fs', '?')}")
    md.append(f"- load average at start: {meta.get('machine.load', '?')}; other processes using "
              f"≥ 10 % CPU at start (ps: average over each process's life): {meta.get('machine.busy') or 'none'}")
    md.append(f"- durable small-file publish on this disk: {meta.get('machine.fsync', '?')}")
    versions = [f"{k.split('.', 1)[1]}: {v}" for k, v in meta.items() if k.startswith("version.")]
    md.append("- versions: " + "; ".join(versions))
    md.append("")
    for scenario in SCENARIOS:
        srows = [r for r in rows if r["scenario"] == scenario]
        if not srows:
            continue
        md += [f"## {meta.get(f's{scenario}.title', 'Scenario ' + scenario)}", "",
               meta.get(f"s{scenario}.desc", ""), ""]
        if scenario in CAPPED:
            if f"s{scenario}.limit" in meta:
                md += [f"Limit: {meta[f's{scenario}.limit']}.", ""]
            md += capped_table(srows, rows, scenario, meta)
        else:
            md += table(srows, reference(rows, scenario), scenario)
        if f"s{scenario}.proxy" in meta:
            md += ["", meta[f"s{scenario}.proxy"] + "."]
        md.append("")
    md += ["## Targets", ""] + targets(rows, meta) + [""]
    md += ["## Definitions", "",
           "- seconds: wall clock of the whole tool run (for aria2: fetching SHA256SUMS.txt, "
           "building the URL list and the download); verification afterwards is not counted.",
           "- files/s: files in the tree (or selection) / seconds (in scenario 3: files "
           "confirmed up to date per second); MB/s: bytes in the tree / seconds / 10^6.",
           "- CPU s: user + system time of the tool and its children (not nginx, not the proxy).",
           "- peak RSS: maximum resident set size reported by /usr/bin/time.",
           "- requests: lines in nginx's access log during the run: listings, HEADs, 401 "
           "challenges, robots.txt, conditional GETs (304) included. file bodies sent: GETs "
           "answered 200/206 with a body on a URL that is not a directory listing.",
           "- ratio to pnsync: this row's seconds / the `pnsync` row's seconds in the same "
           "scenario (default settings); above 1 means pnsync was faster.",
           "- verified: `diff -r` of the destination against the source tree (wget's "
           "index.html files and robots.txt ignored), after the run.",
           "- `*-tmpfs` rows are diagnostics, not comparisons: pnsync's destination and state "
           "on a tmpfs, where fsync is free.",
           "- scenarios 5 and 6 (a per-connection limit: every TCP connection paced, at most "
           "`cap` forwarded at once, further ones wait with their TLS handshake hanging): "
           "\"of ceiling\" = (bytes / seconds) / (cap × rate); \"ratio to best peer\" = the "
           "fastest verified of aria2, rclone and wget's seconds / this row's seconds (above 1 = "
           "faster than the best peer). Connections (from a fresh delay proxy per row): "
           "forwarded to nginx in all, most open at once, most waiting at once, and closed by "
           "the client while still waiting (a connect time-out); \"open, 2nd half\": "
           "connections forwarded over the second half of the run, time-weighted mean and most.",
           "- ceiling rows (grey in the chart) are not peers: curl fetching SHA256SUMS.txt and "
           "every file it lists, hashing nothing. `curl` and `curl-parallel` write to /dev/null "
           "(one request after another / 16 at once; in S1 `curl-parallel` is the ceiling for "
           "any client with 16 requests in flight); `curl-disk` writes every file to a fresh "
           "destination on the same file system as the other tools' and is verified: the "
           "ceiling for a tool that keeps the bytes; `curl-disk-sync` (S2) does the same "
           "and then fsyncs every file and directory it wrote, within the timed run: the "
           "ceiling for a tool that, like pnsync, counts a file done only once it is on the "
           "disk; `curl-per-file` (S6) starts one curl, "
           "i.e. one connection, per file, all at once: the ceiling for a client that fetches "
           "each file in one stream.", ""]
    if args.png and chart(rows, args.png, meta):
        md += [f"Chart: `{os.path.basename(args.png)}`.", ""]
    with open(args.md, "w") as handle:
        handle.write("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
