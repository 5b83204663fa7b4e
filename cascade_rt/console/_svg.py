"""Inline SVG: sparklines and the pipeline graph (no script, no styles beyond SVG attributes)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

__all__ = ("graph", "sparkline")

COLORS = {"ok": "#1a7f37", "warn": "#bf8700", "fail": "#cf222e"}
KIND_LABEL = {"ingest_api": "INGEST API", "stream": "STREAM", "table": "TABLE",
              "dead_letter_queue": "DEAD LETTERS", "consumer": "CONSUMER"}
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 200, 58, 96, 30, 8


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 24, color: str = "#0969da") -> str:
    """A line of ``values`` scaled to the box (a flat line at the bottom for no or constant data)."""
    points = list(values)[-60:]
    if len(points) < 2:
        points = [0.0, *points] if points else [0.0, 0.0]
    top = max(points) or 1.0
    step = (width - 2) / (len(points) - 1)
    coords = " ".join(f"{1 + i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(points))
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="trend"><polyline fill="none" stroke="{color}" stroke-width="1.5" '
            f'points="{coords}"/></svg>')


def _layout(nodes: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Grid cells: ingest API, stream, table on the first row; the rest below."""
    cells: dict[str, tuple[int, int]] = {}
    column = {"ingest_api": 0, "stream": 1, "table": 2}
    first_row_taken: set[int] = set()
    below = {0: 1, 1: 1, 2: 1, 3: 1}
    for node in nodes:
        col = column.get(node["kind"])
        if col is not None and col not in first_row_taken:
            if node["kind"] == "table" and not any(n["kind"] == "stream" for n in nodes):
                col = 1
            cells[node["id"]] = (col, 0)
            first_row_taken.add(col)
    for node in nodes:
        if node["id"] in cells:
            continue
        col = 1 if node["kind"] == "dead_letter_queue" else 2
        cells[node["id"]] = (col, below[col])
        below[col] += 1
    return cells


def _headline(node: dict[str, Any]) -> str:
    f = node.get("figures") or {}
    kind = node["kind"]
    if kind == "ingest_api":
        p99 = (f.get("latency_ms") or {}).get("p99")
        latency = f" · p99 {p99:g} ms" if p99 is not None else ""
        return f"{f.get('requests_per_s', 0):,.1f} req/s{latency}"
    if kind == "stream":
        return f"{f.get('published', 0):,} in · {f.get('partitions', 1)} partitions"
    if kind == "table":
        lag = f.get("lag") or {}
        return f"{f.get('rows_committed', 0):,} rows · lag {lag.get('records', 0):,}"
    if kind == "dead_letter_queue":
        return f"{f.get('pending', 0):,} waiting"
    return ""


def graph(pipeline: dict[str, Any]) -> str:
    """The pipeline's nodes as boxes on a grid and its edges as curves labelled with records/s."""
    nodes = pipeline["nodes"]
    cells = _layout(nodes)
    cols = max((c for c, _ in cells.values()), default=0) + 1
    rows = max((r for _, r in cells.values()), default=0) + 1
    width = PAD * 2 + cols * NODE_W + (cols - 1) * GAP_X
    height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y

    def box(node_id: str) -> tuple[int, int]:
        col, row = cells[node_id]
        return PAD + col * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y)

    parts = [f'<svg class="graph" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="pipeline {escape(pipeline["name"])}">']
    labels = []
    for edge in pipeline["edges"]:
        if edge["from"] not in cells or edge["to"] not in cells:
            continue
        (x1, y1), (x2, y2) = box(edge["from"]), box(edge["to"])
        if cells[edge["to"]][0] > cells[edge["from"]][0]:
            sx, sy, tx, ty = float(x1 + NODE_W), y1 + NODE_H / 2, float(x2), y2 + NODE_H / 2
            path = f"M{sx},{sy} C{(sx + tx) / 2},{sy} {(sx + tx) / 2},{ty} {tx},{ty}"
        else:
            sx, sy, tx, ty = x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2
            path = f"M{sx},{sy} L{tx},{ty}"
        rate = float(edge.get("rate") or 0)
        dead = edge["to"].startswith("dlq:")
        color = ("#cf222e" if dead else "#0969da") if rate > 0 else "#8c959f"
        dash = "" if rate > 0 else ' stroke-dasharray="4 3"'
        parts.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="{2 if rate > 0 else 1.2}"{dash}/>')
        text = f"{rate:,.1f} rec/s"
        mx, my = (sx + tx) / 2, (sy + ty) / 2
        w = 7 * len(text) + 10
        labels.append(f'<g data-edge="{escape(edge["from"])}->{escape(edge["to"])}">'
                      f'<rect x="{mx - w / 2:.1f}" y="{my - 10:.1f}" width="{w}" height="18" rx="9" fill="#ffffff" '
                      f'stroke="{color}" stroke-width="1"/><text x="{mx:.1f}" y="{my + 3:.1f}" text-anchor="middle" '
                      f'font-size="11" fill="{color}" class="edge-rate">{escape(text)}</text></g>')
    for node in nodes:
        x, y = box(node["id"])
        status = COLORS.get(node.get("status", "ok"), "#8c959f")
        parts.append(
            f'<g class="node" data-node="{escape(node["id"])}">'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="#ffffff" stroke="#d0d7de"/>'
            f'<rect x="{x}" y="{y}" width="4" height="{NODE_H}" rx="2" fill="{status}"/>'
            f'<text x="{x + 14}" y="{y + 16}" font-size="9.5" fill="#57606a" letter-spacing="0.6">'
            f'{KIND_LABEL.get(node["kind"], node["kind"].upper())}</text>'
            f'<text x="{x + 14}" y="{y + 33}" font-size="13" font-weight="600" fill="#1f2328">'
            f'{escape(_clip(node["name"], 24))}</text>'
            f'<text x="{x + 14}" y="{y + 49}" font-size="11" fill="#57606a">{escape(_headline(node))}</text></g>'
        )
    parts.extend(labels)
    parts.append("</svg>")
    return "".join(parts)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
