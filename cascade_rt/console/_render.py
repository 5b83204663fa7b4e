"""Server-rendered HTML of the console's pages: a frame, and each page's live region.

The live region (``<div id="live">``) is what the Server-Sent Events stream re-renders; the
script swaps it in place, then re-applies the table sort and the filter the user chose.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any
from urllib.parse import quote

import orjson

from ._svg import graph, sparkline

__all__ = ("PAGES", "frame", "render_live")

PAGES = (("overview", "/", "Overview"), ("pipelines", "/console/pipelines", "Pipelines"),
         ("tables", "/console/tables", "Tables"), ("streams", "/console/streams", "Streams"),
         ("dead-letters", "/console/dead-letters", "Dead letters"), ("assets", "/console/assets", "Assets"),
         ("actors", "/console/actors", "Actors"))


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{value:,.0f}" if isinstance(value, float) else f"{value:,}"


def when(value: Any) -> str:
    if not value:
        return "&ndash;"
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, dt.UTC).isoformat()
    return e(str(value).replace("T", " ")[:19] + "Z")


def size(n: Any) -> str:
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GiB"


def dot(status: str) -> str:
    return f'<span class="dot {e(status)}" title="{e(status)}"></span>'


def frame(page: str, title: str, live: str, *, static: str = "", csrf: str = "", admin: bool = False,
          actions: bool = False, events: str = "") -> str:
    """The whole document around a page's live region."""
    here = ' class="here"'
    nav = "".join(f'<a href="{href}"{here if key == page else ""}>{label}</a>' for key, href, label in PAGES)
    if not actions:
        who = '<span class="mode">read-only</span>'
    elif admin:
        who = ('<form method="post" action="/console/logout" class="inline"><button class="link">sign out'
               '</button></form>')
    else:
        who = ('<form method="post" action="/console/login" class="inline login"><input type="password" name="token" '
               'placeholder="admin token" aria-label="admin token"><button>sign in</button></form>')
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{e(title)} · cascade-rt</title>'
        f'<meta name="csrf-token" content="{e(csrf)}"><link rel="stylesheet" href="/console/static/console.css">'
        f'<script src="/console/static/console.js" defer></script></head>'
        f'<body data-page="{e(page)}" data-events="{e(events)}"><header><span class="brand">cascade-rt</span>'
        f'<nav>{nav}</nav><span class="live-state" id="live-state">connecting…</span>{who}</header>'
        f'<main><h1>{e(title)}</h1>{static}<div id="status" role="status"></div><div id="live">{live}</div></main>'
        "</body></html>"
    )


def _table(headers: list[tuple[str, str]], rows: list[str], *, sortable: bool = True, cls: str = "") -> str:
    head = "".join((f'<th data-sort="{kind}">' if sortable else "<th>") + f"{e(label)}</th>" for label, kind in headers)
    body = "".join(rows) or f'<tr><td colspan="{len(headers)}" class="empty">nothing yet</td></tr>'
    return f'<table class="grid {cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def overview(data: dict[str, Any]) -> str:
    counts = data["counts"]
    cards = "".join(f'<div class="card stat {s}"><div class="big">{counts[s]}</div><div>{label}</div></div>'
                    for s, label in (("ok", "healthy"), ("warn", "degraded"), ("fail", "failing")))
    rows = [f'<tr class="{e(i["status"])}"><td>{dot(i["status"])}</td><td class="kind">{e(i["kind"])}</td>'
            f'<td><a href="{e(i["href"])}">{e(i["name"])}</a></td><td>{e(i["why"])}</td></tr>' for i in data["items"]]
    return (f'<div class="cards">{cards}</div>'
            + _table([("", "text"), ("kind", "text"), ("name", "text"), ("why", "text")], rows, cls="overview"))


def _endpoint_rows(nodes: list[dict[str, Any]]) -> list[str]:
    rows = []
    for n in nodes:
        f, lat = n["figures"], n["figures"]["latency_ms"]
        rows.append(f'<tr><td>{dot(n["status"])} {e(n["path"])}</td><td class="n">{num(f["requests_per_s"], 1)}</td>'
                    f'<td class="n" data-testid="accepted-{e(n["name"])}">{num(f["accepted"])}</td>'
                    f'<td class="n">{num(f["accepted_per_s"], 1)}</td><td>{sparkline(f["accepted_trend"])}</td>'
                    f'<td class="n">{num(f["rejected"])}</td><td class="n">{num(lat["p50"], 1)}</td>'
                    f'<td class="n">{num(lat["p90"], 1)}</td><td class="n">{num(lat["p99"], 1)}</td>'
                    f'<td class="n">{num(f["server_errors"])}</td></tr>')
    return rows


def pipelines(data: dict[str, Any]) -> str:
    out = []
    for p in data["pipelines"]:
        nodes = p["nodes"]
        apis = [n for n in nodes if n["kind"] == "ingest_api"]
        tables = [n for n in nodes if n["kind"] == "table"]
        streams = [n for n in nodes if n["kind"] == "stream"]
        section = [f'<section class="card" id="{e(p["name"])}"><h2>{dot(p["status"])} {e(p["name"])}</h2>'
                   f'<div class="graph-wrap">{graph(p)}</div>']
        if apis:
            section.append("<h3>Ingest endpoints</h3>" + _table(
                [("endpoint", "text"), ("req/s", "num"), ("accepted", "num"), ("rec/s", "num"), ("trend", "text"),
                 ("rejected", "num"), ("p50 ms", "num"), ("p90 ms", "num"), ("p99 ms", "num"), ("5xx", "num")],
                _endpoint_rows(apis)))
        if streams:
            section.append("<h3>Streams</h3>" + _table(
                [("stream", "text"), ("backend", "text"), ("published", "num"), ("delivered/s", "num"),
                 ("trend", "text"), ("failures", "num"), ("dead-lettered", "num")],
                [f'<tr><td>{dot(n["status"])} <a href="/console/streams/{e(n["name"])}">{e(n["name"])}</a></td>'
                 f'<td>{e(n["figures"].get("backend"))}</td>'
                 f'<td class="n" data-testid="published-{e(n["name"])}">{num(n["figures"].get("published"))}</td>'
                 f'<td class="n">{num(n["figures"].get("delivered_per_s"), 1)}</td>'
                 f'<td>{sparkline(n["figures"].get("delivered_trend") or [])}</td>'
                 f'<td class="n">{num(n["figures"].get("failures"))}</td>'
                 f'<td class="n">{num(n["figures"].get("dead_lettered"))}</td></tr>' for n in streams]))
        if tables:
            rows = []
            for n in tables:
                f, lag = n["figures"], n["figures"]["lag"]
                seconds = "&ndash;" if lag["seconds"] is None else f'{"≈" if lag["estimated"] else ""}{lag["seconds"]:g} s'
                rows.append(f'<tr><td>{dot(n["status"])} <a href="/console/tables/{e(n["name"])}">{e(n["name"])}</a></td>'
                            f'<td class="n">{num(f.get("commits"))}</td><td class="n">{num(f.get("commits_per_s"), 2)}</td>'
                            f'<td class="n" data-testid="rows-{e(n["name"])}">{num(f.get("rows_committed"))}</td>'
                            f'<td class="n">{num(f.get("buffered_rows"))}</td>'
                            f'<td class="n">{num(lag["records"])}</td><td class="n">{seconds}</td>'
                            f'<td>{sparkline(lag["trend"], color="#bf8700")}</td>'
                            f'<td class="n">{num((f.get("last_commit_seconds") or 0) * 1000, 1)}</td>'
                            f'<td class="n">{num(f.get("failed_commits"))}</td></tr>')
            section.append("<h3>Tables</h3>" + _table(
                [("table", "text"), ("commits", "num"), ("commits/s", "num"), ("rows", "num"), ("buffered", "num"),
                 ("lag rec", "num"), ("lag", "text"), ("lag trend", "text"), ("last commit ms", "num"),
                 ("failed", "num")], rows))
        section.append("</section>")
        out.append("".join(section))
    return "".join(out) or '<p class="empty">No pipelines declared.</p>'


def tables(data: dict[str, Any]) -> str:
    rows = [f'<tr><td><a href="/console/tables/{e(t["name"])}">{e(t["name"])}</a></td><td>{e(t["identifier"])}</td>'
            f'<td class="n">{num(t.get("rows"))}</td><td class="n">{num(t.get("data_files"))}</td>'
            f'<td class="n">{num(t.get("delete_files"))}</td><td class="n">{size(t.get("bytes"))}</td>'
            f'<td class="n">{num(t.get("snapshots"))}</td><td>{when(t.get("last_commit_at"))}</td>'
            f'<td class="n">{num(t.get("commits"))}</td></tr>' for t in data["tables"]]
    return _table([("table", "text"), ("identifier", "text"), ("rows", "num"), ("data files", "num"),
                   ("delete files", "num"), ("size", "num"), ("snapshots", "num"), ("last commit", "text"),
                   ("commits here", "num")], rows)


def _json_cell(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        value = value.isoformat()
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return e(text if len(text) <= 120 else text[:119] + "…")


def table_detail(data: dict[str, Any]) -> str:
    files = data["files"]
    writer = data.get("writer") or {}
    facts = [("rows", num(data["rows"])), ("data files", num(data["data_files"])),
             ("small files", f'{num(files["small"])} (&lt; {size(files["small_limit_bytes"])})'),
             ("delete files", num(data["delete_files"])), ("size", size(data["bytes"])),
             ("snapshots", num(data["snapshots"])), ("last commit", when(data["last_commit_at"])),
             ("snapshots expired", num(writer.get("snapshots_expired"))),
             ("maintenance", e(_json_cell(writer.get("maintenance") or "expiry after commits")))]
    fact_html = "".join(f"<div><dt>{label}</dt><dd>{value}</dd></div>" for label, value in facts)
    schema = _table([("id", "num"), ("name", "text"), ("type", "text"), ("required", "text"), ("key", "text"),
                     ("doc", "text")],
                    [f'<tr><td class="n">{f["id"]}</td><td>{e(f["name"])}</td><td class="mono">{e(f["type"])}</td>'
                     f'<td>{"yes" if f["required"] else ""}</td><td>{"key" if f["key"] else ""}</td>'
                     f'<td>{e(f["doc"])}</td></tr>' for f in data["schema"]])
    snaps = _table([("snapshot", "text"), ("at", "text"), ("operation", "text"), ("added rows", "num"),
                    ("total rows", "num"), ("files", "num"), ("summary", "text")],
                   [f'<tr><td class="mono">{s["id"]}</td><td>{when(s["at"])}</td><td>{e(s["operation"])}</td>'
                    f'<td class="n">{e(s["summary"].get("added-records", ""))}</td>'
                    f'<td class="n">{e(s["summary"].get("total-records", ""))}</td>'
                    f'<td class="n">{e(s["summary"].get("total-data-files", ""))}</td>'
                    f'<td class="mono small">{_json_cell(s["summary"])}</td></tr>' for s in data["snapshot_list"]])
    listed = _table([("file", "text"), ("content", "text"), ("records", "num"), ("size", "num"), ("", "text")],
                    [f'<tr><td class="mono small">{e(f["path"])}</td><td>{e(f["content"])}</td>'
                     f'<td class="n">{num(f["records"])}</td><td class="n">{size(f["bytes"])}</td>'
                     f'<td>{"small" if f["small"] else ""}</td></tr>' for f in files["listed"]])
    peek_rows = data["peek"]
    columns = list(peek_rows[0]) if peek_rows else [f["name"] for f in data["schema"]]
    peek = _table([(c, "text") for c in columns],
                  [("<tr>" + "".join(f"<td>{_json_cell(r.get(c))}</td>" for c in columns) + "</tr>") for r in peek_rows])
    return (f'<dl class="facts">{fact_html}</dl><h3>Rows (first {len(peek_rows)})</h3>{peek}'
            f'<h3>Schema</h3>{schema}<h3>Snapshots</h3>{snaps}<h3>Files ({num(files["count"])})</h3>{listed}')


def streams(data: dict[str, Any]) -> str:
    rows = [f'<tr><td><a href="/console/streams/{e(s["name"])}">{e(s["name"])}</a></td><td>{e(s["kind"])}</td>'
            f'<td>{e(s["backend"])}</td><td class="n">{s["partitions"]}</td><td class="n">{num(s["published"])}</td>'
            f'<td class="n">{num(s["published_per_s"], 1)}</td><td>{sparkline(s["delivered_trend"])}</td>'
            f'<td class="n">{num(s["failures"])}</td><td class="n">{num(s["retained"])}</td></tr>'
            for s in data["streams"]]
    return _table([("stream", "text"), ("kind", "text"), ("backend", "text"), ("partitions", "num"),
                   ("published", "num"), ("rec/s", "num"), ("trend", "text"), ("failures", "num"),
                   ("retained", "num")], rows)


def stream_tail(data: dict[str, Any]) -> str:
    records = data["records"]
    columns = list(records[0]) if records else []
    head = [(c, "text") for c in columns] or [("record", "text")]
    rows = [("<tr>" + "".join(f"<td>{_json_cell(r.get(c))}</td>" for c in columns) + "</tr>") for r in records]
    return (f'<p class="muted">newest {len(records)} of {num(data["retained"])} retained records, newest first</p>'
            + _table(head, rows, cls="tail filterable"))


def dead_letters(data: dict[str, Any], *, actions: bool) -> str:
    out = []
    for q in data["queues"]:
        groups = []
        for g in q["groups"]:
            samples = "".join(f'<tr><td class="mono small">{_json_cell(s["record"])}</td><td>{e(s["error"])}</td>'
                              f'<td>{when(s["failed_at"])}</td></tr>' for s in g["samples"])
            if g["replay_into"] and actions:
                button = (f'<button data-action="/admin/dead-letters/{e(q["name"])}/groups/{e(g["id"])}/replay" '
                          f'data-confirm="Replay {g["count"]} records into {e(g["replay_into"])}?">'
                          f'Replay {g["count"]} into {e(g["replay_into"])}</button>')
            elif g["replay_into"]:
                button = f'<span class="muted">replay into {e(g["replay_into"])} needs the admin token</span>'
            else:
                button = '<span class="muted">not replayable from here</span>'
            groups.append(f'<div class="group" data-group="{e(g["id"])}"><div class="group-head"><span class="count">'
                          f'{g["count"]}</span><span class="etype">{e(g["error_type"])}</span><span class="src">'
                          f'{e(g["source"])}</span><span class="muted">{when(g["first_at"])} &ndash; {when(g["last_at"])}'
                          f'</span>{button}</div><div class="err">{e(g["error"])}</div>'
                          f'<table class="grid samples"><tbody>{samples}</tbody></table></div>')
        body = "".join(groups) or '<p class="empty">No dead letters waiting.</p>'
        out.append(f'<section class="card" id="{e(q["name"])}"><h2>{dot("warn" if q["pending"] else "ok")} '
                   f'{e(q["name"])} <span class="muted" data-testid="pending-{e(q["name"])}">{q["pending"]} '
                   f'waiting</span></h2>{body}</section>')
    return "".join(out) or '<p class="empty">No dead-letter queues.</p>'


def assets(data: list[dict[str, Any]], *, actions: bool) -> str:
    out = []
    for a in data:
        fresh = a["freshness"] or {}
        hours = a["freshness_hours"]
        runs = _table([("run", "num"), ("status", "text"), ("trigger", "text"), ("partition", "text"),
                       ("rows", "num"), ("inserted", "num"), ("updated", "num"), ("seconds", "num"),
                       ("snapshot", "text"), ("branch", "text"), ("finished", "text")],
                      [f'<tr class="{"ok" if r["status"] == "success" else "fail"}"><td class="n">{r["run_id"]}</td>'
                       f'<td>{dot("ok" if r["status"] == "success" else "fail")} {e(r["status"])}</td>'
                       f'<td>{e(r["trigger"])}</td><td>{e(r["partition_date"])}</td>'
                       f'<td class="n">{num(r["rows_loaded"])}</td><td class="n">{num(r["rows_inserted"])}</td>'
                       f'<td class="n">{num(r["rows_updated"])}</td><td class="n">{num(r["total_elapsed_seconds"], 2)}</td>'
                       f'<td class="mono">{e(r["snapshot_id"])}</td><td>{e(r["branch"])}</td>'
                       f'<td>{when(r["finished_at"])}</td></tr>' for r in a["runs"]])
        run = (f'<button data-action="/admin/assets/{e(a["name"])}/run">Run now</button>' if actions else "")
        out.append(
            f'<section class="card" id="{e(a["name"])}"><h2>{dot(a["status"])} {e(a["name"])} '
            f'<span class="muted">→ {e(a["table"])}</span>{run}</h2><dl class="facts">'
            f'<div><dt>schedule</dt><dd class="mono">{e(a["cron"] or "manual")}</dd></div>'
            f'<div><dt>next run</dt><dd>{when(a["next_run"])}{"" if a["scheduled"] or not a["cron"] else " (scheduler off)"}'
            f'</dd></div>'
            f'<div><dt>freshness</dt><dd>{e(fresh.get("status", "unknown"))}</dd></div>'
            f'<div><dt>policy</dt><dd>{e(f"warn {hours[0]:g} h · fail {hours[1]:g} h" if hours else "none")}</dd></div>'
            f'<div><dt>last success</dt><dd>{when(fresh.get("last_success"))}</dd></div>'
            f'<div><dt>why</dt><dd>{e(a["why"])}</dd></div></dl>{runs}</section>')
    return "".join(out) or '<p class="empty">No assets declared.</p>'


def actors(data: dict[str, Any], *, actions: bool = False) -> str:
    rows = []
    for a in data["actors"]:
        depth = min(int(a["depth"]), 8)
        restart = (f'<button data-action="/admin/actors/restart?path={quote(str(a["path"]), safe="/")}" '
                   f'data-confirm="Restart {e(a["path"])}?">Restart</button>'
                   if actions and a["depth"] and a["state"] == "running" else "")
        rows.append(f'<tr class="{e(a["status"])}"><td class="d{depth}" data-value="{e(a["path"])}">'
                    f'{dot(a["status"])} {e(a["name"])}</td><td class="kind">{e(a["kind"])}</td><td>{e(a["state"])}</td>'
                    f'<td class="n">{a["mailbox_depth"]}</td><td class="n">{a["mailbox_capacity"]}</td>'
                    f'<td class="n">{a["mailbox_high_water"]}</td><td class="n">{num(a["processed"])}</td>'
                    f'<td class="n">{a["restarts"]}</td><td class="n">{a["failures"]}</td>'
                    f'<td class="n">{a["dead_letters_total"]}</td><td class="n">{num(a["latency_ms"], 2)}</td>'
                    + (f'<td>{restart}</td>' if actions else "") + '</tr>')
    headers = [("actor", "text"), ("kind", "text"), ("state", "text"), ("mailbox", "num"), ("capacity", "num"),
               ("high water", "num"), ("processed", "num"), ("restarts", "num"), ("failures", "num"),
               ("dead letters", "num"), ("latency ms", "num")]
    return _table(headers + ([("", "text")] if actions else []), rows, cls="actors")


def render_live(page: str, data: Any, *, actions: bool = False) -> str:
    """The live region of ``page`` for ``data`` (what the page's JSON endpoint answers)."""
    if page == "dead-letters":
        return dead_letters(data, actions=actions)
    if page == "assets":
        return assets(data["assets"], actions=actions)
    if page == "actors":
        return actors(data, actions=actions)
    renderer = {"overview": overview, "pipelines": pipelines, "tables": tables, "table": table_detail,
                "streams": streams, "stream": stream_tail}[page]
    return str(renderer(data))
