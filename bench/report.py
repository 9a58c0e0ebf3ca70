"""Outputs of the decode benchmark: JSON, CSV, PNG roofline, and the summary table printed last.

Everything here works on plain record dicts, so it runs (and can be checked) without a GPU.
matplotlib is imported only inside ``plot_roofline``: it is optional.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from pathlib import Path

#: CSV columns, in order: the point, the status, the medians, the derived rates, the peers.
CSV_COLUMNS = [
    "dtype", "b", "s_q", "h_q", "h_kv", "seqlen", "causal", "page_size", "mean_len", "max_len",
    "path", "status", "note",
    "decode_us", "span_us", "busy_us", "graph_us", "eager_us", "host_us", "host_out_us", "metadata_us",
    "whole_op_us", "whole_op_source", "kernels_per_call",
    "flop", "bytes", "intensity",
    "tflops", "gbps", "pct_copy", "pct_matmul", "tflops_decode", "gbps_decode", "pct_copy_decode",
    "rel_err_vs_reference", "max_abs_err_vs_reference", "out_nonfinite",
    "flashmla_decode_us", "flashmla_span_us", "flashmla_graph_us", "fa3_graph_us", "flashmla_host_cpu_us",
    "flashmla_run3_graph_us",
    "best_peer", "best_peer_graph_us", "graph_vs_best_peer", "decode_vs_flashmla", "span_vs_flashmla",
    "targets_met", "targets_missed", "kernel_names",
]


def output_stem(out_dir: Path, tag: str, device: str, when: float | None = None) -> Path:
    """`<out>/<tag>_<device>_<date>`, with only letters, digits, '.', '_' and '-' in the name."""
    safe = lambda s: re.sub(r"[^A-Za-z0-9.]+", "-", s).strip("-") or "unknown"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    return Path(out_dir) / f"{safe(tag)}_{safe(device)}_{stamp}"


def _json_safe(value):
    """NaN/inf are not JSON: write them as strings so the file stays standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, meta: dict, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_safe({"meta": meta, "records": records}), indent=1) + "\n")
    return path


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def write_csv(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for rec in records:
            writer.writerow({k: _csv_value(rec.get(k)) for k in CSV_COLUMNS})
    return path


def point_label(rec: dict) -> str:
    causal = " causal" if rec.get("causal") and rec["s_q"] > 1 else ""
    return f"b={rec['b']} s_q={rec['s_q']} h_q={rec['h_q']} L={rec['seqlen']}{causal} {rec['dtype']}"


def _fmt(value, spec: str, width: int, suffix: str = "") -> str:
    """A right-aligned number, or '-' where the figure is missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"{'-':>{width}}"
    return f"{f'{value:{spec}}{suffix}':>{width}}"


def _not_ok_groups(records: list[dict]) -> dict[tuple, list[dict]]:
    """Records that did not run, grouped by path, status and note (numbers blanked), in order.

    A path that is unavailable everywhere then takes one line instead of one per point.
    """
    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        if rec.get("status") != "ok":
            key = (rec["path"], rec.get("status"), re.sub(r"[0-9.]+", "#", rec.get("note") or ""))
            groups.setdefault(key, []).append(rec)
    return groups


def summary_table(records: list[dict], meta: dict) -> str:
    """The short table printed last: one row per (point, path)."""
    ceil = meta.get("ceilings") or {}
    lines = [
        f"device: {meta.get('device', '?')}   copy ceiling {_fmt(ceil.get('copy_gbps'), '.0f', 0)} GB/s   "
        f"matmul ceiling {_fmt(ceil.get('matmul_tflops'), '.0f', 0)} TFLOP/s (same run)",
        "graph us = whole op replayed in a CUDA graph; % copy and TFLOP/s use it (where there is no graph: the "
        "GPU span, or the eager call for the reference); vs peer = graph us / the faster of FlashMLA and "
        "FA3-MLA on the H100 (flashmla-fa3-h100.md), or where that has no figure for these lengths, decode us / "
        "FlashMLA's decode kernel ('FM kernel', flashmla-h100.md); < 1 is faster",
        f"lengths: {_lengths_note(meta)}",
    ]
    header = (f"{'point':<40} {'path':<9} {'graph us':>9} {'% copy':>7} {'TFLOP/s':>8} {'decode us':>9} "
              f"{'vs peer':>16}  note")
    lines += [header, "-" * len(header)]
    for rec in records:
        if rec.get("status") != "ok":
            continue
        head = f"{point_label(rec):<40} {rec['path']:<9}"
        ratio = rec.get("graph_vs_best_peer")
        if ratio is not None:
            peer = f"{ratio:.2f}x {'FA3' if rec.get('best_peer') == 'FA3-MLA' else 'FlashMLA'}"
        elif rec.get("decode_vs_flashmla") is not None:
            peer = f"{rec['decode_vs_flashmla']:.2f}x FM kernel"
        else:
            peer = None
        missed = rec.get("targets_missed") or []
        source = rec.get("whole_op_source")
        notes = ([f"{source}, no graph"] if source and source != "graph" else []) + (
            [f"missed {len(missed)} target(s)"] if missed else [])
        lines.append(
            f"{head} {_fmt(rec.get('graph_us'), '.1f', 9)} {_fmt(rec.get('pct_copy'), '.1f', 7, '%')} "
            f"{_fmt(rec.get('tflops'), '.1f', 8)} {_fmt(rec.get('decode_us'), '.1f', 9)} "
            f"{peer if peer else '-':>16}  {'; '.join(notes)}"
        )
    for (path, status, _), group in _not_ok_groups(records).items():
        first = group[0]
        where = point_label(first) if len(group) == 1 else f"{len(group)} points, e.g. {point_label(first)}"
        lines.append(f"{path} {status} at {where}: {(first.get('note') or '')[:120]}")
    lines += serving_lines(records, meta)
    for label, key in (("host us per eager call", "host_us"), ("metadata GPU us", "metadata_us")):
        for path in sorted({r["path"] for r in records}):
            vals = [r[key] for r in records if r["path"] == path and r.get(key) is not None]
            if vals:
                lines.append(f"{path} {label}: {min(vals):.1f} to {max(vals):.1f} over {len(vals)} point(s)")
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec.get("status", "?")] = counts.get(rec.get("status", "?"), 0) + 1
    n_met = sum(len(r.get("targets_met") or []) for r in records)
    n_missed = sum(len(r.get("targets_missed") or []) for r in records)
    lines.append("-" * len(header))
    lines.append(
        "records: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        + f"   targets (docs/PERFORMANCE.md): {n_met} met, {n_missed} missed (details in the JSON/CSV)"
    )
    return "\n".join(lines)


def _lengths_note(meta: dict) -> str:
    policy = (meta.get("args") or {}).get("lengths")
    return {
        "graph-ref": "graph-ref, drawn as flashmla-fa3-h100.md's (compared with its whole-op graph figures)",
        "kernel-ref": "kernel-ref, drawn as flashmla-h100.md's (compared with its decode-kernel, span and run-3 figures)",
        "seeded": "seeded (this project's own draw): no peer figure was measured on these lengths",
    }.get(policy, f"{policy or 'not recorded'}")


def serving_lines(records: list[dict], meta: dict | None = None) -> list[str]:
    """Host time per eager call and graph replay next to FlashMLA's run-3 figures (same method:
    back-to-back calls without sync; graph replay after a 256 MB flush, events, median), at the
    points FlashMLA measured them (b = 1, 8, 128)."""
    rows = [r for r in records if r.get("status") == "ok" and r.get("flashmla_host_cpu_us") is not None
            and r.get("path") == "cute_mla"]
    if not rows:
        return []
    lines = ["host us per eager call (allocating / out=, lse= given) and graph replay us, next to FlashMLA "
             "(flashmla-h100.md run 3; target 6: host <= 20 us):"]
    if meta and meta.get("host_add_us") is not None:
        lines.append(f"  (this host: {meta['host_add_us']:.1f} us per bare torch.add_ on a CUDA tensor, "
                     "same method)")
    for r in rows:
        lines.append(
            f"  {point_label(r):<40} host {_fmt(r.get('host_us'), '.1f', 6)} / {_fmt(r.get('host_out_us'), '.1f', 5)}"
            f" (FlashMLA {r['flashmla_host_cpu_us']:.0f})   graph {_fmt(r.get('graph_us'), '.1f', 7)}"
            f" (FlashMLA {_fmt(r.get('flashmla_run3_graph_us'), '.1f', 0)})")
    return lines


def plot_roofline(path: Path, records: list[dict], meta: dict, peer_points: list[dict]) -> str | None:
    """PNG roofline: x = FLOP/byte, y = achieved TFLOP/s of the whole op, both log; returns a note.

    The two ceiling lines are those measured in this run. Peers (graph-replay figures) are drawn
    where the reference tables have the point.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"PNG skipped: matplotlib is not importable ({exc})"
    ceil = meta.get("ceilings") or {}
    copy_tbps = (ceil.get("copy_gbps") or 0) / 1e3
    matmul = ceil.get("matmul_tflops") or 0
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    xs = [r["intensity"] for r in records if r.get("intensity")] + [p["intensity"] for p in peer_points]
    lo, hi = (min(xs) / 2, max(xs) * 2) if xs else (1.0, 1000.0)
    if copy_tbps and matmul:
        grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
        ax.plot(grid, [min(matmul, copy_tbps * x) for x in grid], color="black", lw=1.2,
                label=f"ceilings: copy {copy_tbps * 1e3:.0f} GB/s, matmul {matmul:.0f} TFLOP/s")
    styles = {"cute_mla": ("o", "tab:blue"), "reference": ("x", "tab:gray")}
    for path_name in sorted({r["path"] for r in records}):
        pts = [r for r in records if r["path"] == path_name and r.get("status") == "ok" and r.get("tflops")]
        if pts:
            marker, color = styles.get(path_name, ("D", "tab:purple"))
            ax.scatter([r["intensity"] for r in pts], [r["tflops"] for r in pts], marker=marker, color=color,
                       s=28, label=f"{path_name} (whole op)", zorder=3)
    for name, marker, color in (("FlashMLA", "^", "tab:orange"), ("FA3-MLA", "s", "tab:green")):
        pts = [p for p in peer_points if p["peer"] == name]
        if pts:
            ax.scatter([p["intensity"] for p in pts], [p["tflops"] for p in pts], marker=marker,
                       facecolors="none", edgecolors=color, s=36, label=f"{name} (graph, H100 reference)", zorder=2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte, PERFORMANCE.md counting)")
    ax.set_ylabel("achieved TFLOP/s")
    ax.set_title(f"MLA decode roofline on {meta.get('device', '?')}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return None
