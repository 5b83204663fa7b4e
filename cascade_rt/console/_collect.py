"""The console's figures as plain dicts: overview, pipelines (graph, rates, lag), streams, actors.

Every function takes the running ``Runtime``, the :class:`ConsoleState` (rates, replayed dead
letters) and a :class:`Readings`, and returns JSON-able data; the ``/admin/...`` endpoints answer
it as is and the pages render it.

Lag and maintenance: a table's figures are its writer's ``statistics()`` (every field, so new
ones show up by themselves) merged with what the runtime's ``health()`` reports under
``table:<name>``. When either carries ``lag`` (``{"records": n, "seconds": s}``) or
``maintenance`` (a dict), that is shown; until then the lag is derived here (:func:`table_lag`).
"""

from __future__ import annotations

from typing import Any

from ..observe import LATENCY_BUCKETS, Latency
from ._readings import Readings, actor_status, worst
from ._state import ConsoleState

__all__ = ("actors", "overview", "percentiles", "pipelines", "streams", "table_lag")


def percentiles(latency: Latency, quantiles: tuple[float, ...] = (0.5, 0.9, 0.99)) -> dict[str, float | None]:
    """Latency quantiles in milliseconds, interpolated within the histogram's buckets (None: no data)."""
    total = sum(latency.counts)
    out: dict[str, float | None] = {}
    for q in quantiles:
        label = f"p{round(q * 100):d}"
        if not total:
            out[label] = None
            continue
        target, seen = q * total, 0
        value = LATENCY_BUCKETS[-1]
        for i, count in enumerate(latency.counts):
            if seen + count >= target and count:
                low = LATENCY_BUCKETS[i - 1] if i > 0 else 0.0
                high = LATENCY_BUCKETS[i] if i < len(LATENCY_BUCKETS) else LATENCY_BUCKETS[-1] * 2
                value = low + (high - low) * (target - seen) / count
                break
            seen += count
        out[label] = round(value * 1000, 2)
    return out


def _find(tree: dict[str, Any], *names: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = tree
    for name in names:
        if node is None:
            return None
        node = next((c for c in node.get("children") or () if c.get("name") == name), None)
    return node


def _subtree_state(node: dict[str, Any] | None) -> tuple[str, str]:
    """``(status, why)`` of an actor and its descendants (the worst of them)."""
    if node is None:
        return "warn", "not running in this process"
    stack, status, why = [node], "ok", ""
    while stack:
        current = stack.pop()
        current_status = actor_status(current.get("state"))
        if STATE_ORDER[current_status] > STATE_ORDER[status]:
            status, why = current_status, f"{current.get('path')} is {current.get('state')}"
        stack.extend(current.get("children") or ())
    return status, why


STATE_ORDER = {"ok": 0, "warn": 1, "fail": 2}


def _part_nodes(runtime: Any, tree: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any] | None]:
    """The tree node of every table, stream and dead-letter queue, by (kind, name)."""
    found: dict[tuple[str, str], dict[str, Any] | None] = {}
    for pipeline in runtime.registry.all("pipeline"):
        base = ("pipelines", pipeline.pipeline_name)
        if pipeline.table is not None:
            found["table", pipeline.table.table_name] = _find(tree, *base, "table")
        if pipeline.stream is not None:
            found["stream", pipeline.stream.stream_name] = _find(tree, *base, pipeline.stream.stream_name)
        if pipeline.dead_letter_queue is not None:
            name = pipeline.dead_letter_queue.queue_name
            found["dead_letter_queue", name] = _find(tree, *base, name)
    for kind, group, attr in (("table", "tables", "table_name"), ("stream", "streams", "stream_name"),
                              ("dead_letter_queue", "dead_letter_queues", "queue_name")):
        for decl in runtime.registry.all(kind):
            name = getattr(decl, attr)
            if (kind, name) not in found:
                found[kind, name] = _find(tree, group, name)
    return found


def table_figures(name: str, readings: Readings) -> dict[str, Any]:
    """A table's writer counters merged with what ``health()`` reports for ``table:<name>``."""
    figures = dict(readings.writers.get(name) or {})
    extra = readings.health.get(f"table:{name}") or {}
    for key, value in extra.items():
        if key != "status":
            figures.setdefault(key, value)
    return figures


def table_lag(name: str, stream: Any, figures: dict[str, Any], state: ConsoleState) -> dict[str, Any]:
    """How far table ``name`` is behind its stream: records, seconds and a trend of the records.

    The runtime's own figure wins when it reports one (``figures["lag"]``, or the stream's
    ``lag()`` over its durable log: records synced but not committed, and how long the oldest
    has waited). Otherwise (a stream on Kafka): records the stream accepted but has not delivered yet, plus the rows
    the writer holds for its next commit; seconds = those records over the commit rate
    (``estimated``).
    """
    provided = figures.get("lag")
    measured = getattr(stream, "lag", None)
    if not isinstance(provided, dict) and callable(measured):
        provided = measured()  # the stream's durable log knows: synced records the table has not committed
    if isinstance(provided, dict):
        records = float(provided.get("records") or 0)
        seconds = provided.get("seconds")
        estimated = False
    else:
        pending = 0
        if stream is not None:
            stats = stream.statistics()
            pending = max(0, stats.published - stats.delivered - stats.failures)
        records = float(pending + int(figures.get("buffered_rows") or 0))
        rate = state.rates.rate(f"table:{name}:rows", float(figures.get("rows_committed") or 0))
        seconds = 0.0 if records == 0 else (round(records / rate, 2) if rate > 0 else None)
        estimated = True
    state.rates.gauge(f"table:{name}:lag", records)
    return {"records": int(records), "seconds": seconds, "estimated": estimated,
            "trend": state.rates.trend(f"table:{name}:lag")}


def _endpoint_figures(runtime: Any, endpoint: Any, state: ConsoleState) -> dict[str, Any]:
    metrics = runtime.ingest_metrics.pipeline(endpoint.name)
    requests = sum(c.value for c in metrics.requests.values())
    errors = sum(c.value for status, c in metrics.requests.items() if status >= 500)
    client_errors = sum(c.value for status, c in metrics.requests.items() if 400 <= status < 500)
    key = f"api:{endpoint.name}"
    return {
        "requests": int(requests),
        "requests_per_s": round(state.rates.rate(f"{key}:requests", requests), 2),
        "accepted": int(metrics.accepted.value),
        "accepted_per_s": round(state.rates.rate(f"{key}:accepted", metrics.accepted.value), 2),
        "accepted_trend": state.rates.trend(f"{key}:accepted"),
        "rejected": int(metrics.rejected.value),
        "rejected_per_s": round(state.rates.rate(f"{key}:rejected", metrics.rejected.value), 2),
        "client_errors": int(client_errors),
        "server_errors": int(errors),
        "by_status": {str(s): int(c.value) for s, c in sorted(metrics.requests.items())},
        "latency_ms": percentiles(metrics.latency),
        "closed": bool(endpoint.closed),
    }


def _stream_figures(stream: Any, state: ConsoleState) -> dict[str, Any]:
    stats = stream.statistics()
    key = f"stream:{stream.name}"
    return {
        "backend": stats.backend,
        "partitions": stats.partitions,
        "published": stats.published,
        "published_per_s": round(state.rates.rate(f"{key}:published", stats.published), 2),
        "delivered": stats.delivered,
        "delivered_per_s": round(state.rates.rate(f"{key}:delivered", stats.delivered), 2),
        "delivered_trend": state.rates.trend(f"{key}:delivered"),
        "failures": stats.failures,
        "dead_lettered": stats.dead_lettered,
        "dead_lettered_per_s": round(state.rates.rate(f"{key}:dead", stats.dead_lettered), 2),
        "retained": stats.retained,
        "transforms": [{"to": dest.name, "function": getattr(fn, "__name__", type(fn).__name__)}
                       for dest, fn in stream.transforms],
        "consumers": [getattr(fn, "__name__", type(fn).__name__) for fn in stream.consumers],
    }


def _pending_letters(queue: Any, name: str, state: ConsoleState) -> int:
    from ._dead_letters import letter_id

    replayed = state.replayed.get(name) or set()
    if not replayed:
        return int(queue.statistics().retained)
    return sum(1 for letter in queue.read() if letter_id(letter) not in replayed)


def pipelines(runtime: Any, state: ConsoleState, readings: Readings) -> dict[str, Any]:
    """Every pipeline as a graph: nodes (ingest API, stream, table, DLQ, transforms, consumers)
    with their figures, and edges with records/s and a trend."""
    nodes_by_part = _part_nodes(runtime, readings.tree)
    out = []
    for pipeline in runtime.registry.all("pipeline"):
        nodes: list[dict[str, Any]] = []
        edges: list[dict[str, Any]] = []
        api, stream_decl, table_decl, dlq_decl = (pipeline.ingest_api, pipeline.stream, pipeline.table,
                                                  pipeline.dead_letter_queue)
        stream = runtime.streams.get(stream_decl.stream_name) if stream_decl is not None else None
        dlq_name = dlq_decl.queue_name if dlq_decl is not None else None
        statuses = []
        if api is not None and api.api_name in runtime.endpoints:
            endpoint = runtime.endpoints[api.api_name]
            figures = _endpoint_figures(runtime, endpoint, state)
            status = "warn" if figures["closed"] or figures["rejected_per_s"] > 0 else "ok"
            statuses.append(status)
            nodes.append({"id": f"api:{api.api_name}", "kind": "ingest_api", "name": api.api_name,
                          "path": api.path, "status": status, "figures": figures})
            target = f"stream:{stream.name}" if stream is not None else (
                f"table:{table_decl.table_name}" if table_decl is not None else None)
            if target:
                edges.append({"from": f"api:{api.api_name}", "to": target, "rate": figures["accepted_per_s"],
                              "trend": figures["accepted_trend"]})
            if dlq_name:
                edges.append({"from": f"api:{api.api_name}", "to": f"dlq:{dlq_name}",
                              "rate": figures["rejected_per_s"], "trend": []})
        if stream is not None:
            figures = _stream_figures(stream, state)
            status, why = _subtree_state(nodes_by_part.get(("stream", stream.name)))
            statuses.append(status)
            nodes.append({"id": f"stream:{stream.name}", "kind": "stream", "name": stream.name, "status": status,
                          "why": why, "figures": figures})
            if table_decl is not None:
                edges.append({"from": f"stream:{stream.name}", "to": f"table:{table_decl.table_name}",
                              "rate": figures["delivered_per_s"], "trend": figures["delivered_trend"]})
            for transform in figures["transforms"]:
                dest = runtime.streams.get(transform["to"])
                node_id = f"stream:{transform['to']}"
                if not any(n["id"] == node_id for n in nodes):
                    nodes.append({"id": node_id, "kind": "stream", "name": transform["to"], "status": "ok",
                                  "figures": _stream_figures(dest, state) if dest is not None else {}})
                rate = nodes[-1]["figures"].get("published_per_s", 0.0) if dest is not None else 0.0
                edges.append({"from": f"stream:{stream.name}", "to": node_id, "rate": rate, "trend": [],
                              "label": f"transform {transform['function']}"})
            for consumer in figures["consumers"]:
                node_id = f"consumer:{stream.name}:{consumer}"
                nodes.append({"id": node_id, "kind": "consumer", "name": consumer, "status": "ok", "figures": {}})
                edges.append({"from": f"stream:{stream.name}", "to": node_id, "rate": figures["delivered_per_s"],
                              "trend": []})
            if dlq_name:
                edges.append({"from": f"stream:{stream.name}", "to": f"dlq:{dlq_name}",
                              "rate": figures["dead_lettered_per_s"], "trend": []})
        if table_decl is not None:
            name = table_decl.table_name
            figures = table_figures(name, readings)
            figures["lag"] = table_lag(name, stream, figures, state)
            figures["commits_per_s"] = round(state.rates.rate(f"table:{name}:commits",
                                                              float(figures.get("commits") or 0)), 2)
            status, why = _subtree_state(nodes_by_part.get(("table", name)))
            if status == "ok" and figures.get("failed_commits"):
                status, why = "warn", f"{figures['failed_commits']} failed commits"
            statuses.append(status)
            nodes.append({"id": f"table:{name}", "kind": "table", "name": name, "status": status, "why": why,
                          "figures": figures})
        if dlq_name and dlq_name in runtime.dead_letter_queues:
            pending = _pending_letters(runtime.dead_letter_queues[dlq_name], dlq_name, state)
            status = "warn" if pending else "ok"
            statuses.append(status)
            nodes.append({"id": f"dlq:{dlq_name}", "kind": "dead_letter_queue", "name": dlq_name, "status": status,
                          "figures": {"pending": pending}})
        out.append({"name": pipeline.pipeline_name, "status": worst(*statuses), "nodes": nodes, "edges": edges})
    return {"pipelines": out, "at": readings.at}


def streams(runtime: Any, state: ConsoleState) -> dict[str, Any]:
    """Every stream with its counters (dead-letter queues included, ``kind`` tells them apart)."""
    out = []
    for name, stream in runtime.streams.items():
        out.append({"name": name, "kind": "stream", **_stream_figures(stream, state)})
    for name, queue in runtime.dead_letter_queues.items():
        out.append({"name": name, "kind": "dead_letter_queue", "pending": _pending_letters(queue, name, state),
                    **_stream_figures(queue, state)})
    return {"streams": out}


def actors(readings: Readings) -> dict[str, Any]:
    """The supervision tree flattened, parents first, with each actor's depth and counters."""
    rows = []
    stack: list[tuple[dict[str, Any], int]] = [(readings.tree, 0)]
    while stack:
        node, depth = stack.pop()
        row = {k: v for k, v in node.items() if k != "children"}
        letters = row.get("dead_letters")
        row["dead_letters_total"] = sum(letters.values()) if isinstance(letters, dict) else int(letters or 0)
        row["depth"] = depth
        row["status"] = actor_status(row.get("state"))
        row["children_count"] = len(node.get("children") or ())
        rows.append(row)
        stack.extend((child, depth + 1) for child in reversed(node.get("children") or []))
    return {"actors": rows, "tree": readings.tree}


def overview(runtime: Any, state: ConsoleState, readings: Readings,
             assets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every pipeline, table, stream, ingest API, asset and top-level actor: status and why."""
    items: list[dict[str, Any]] = []
    graph = pipelines(runtime, state, readings)
    seen: set[str] = set()
    for pipeline in graph["pipelines"]:
        bad = [n for n in pipeline["nodes"] if n["status"] != "ok"]
        why = "; ".join(f"{n['name']}: {_why(n)}" for n in bad) or "all parts running"
        items.append({"kind": "pipeline", "name": pipeline["name"], "status": pipeline["status"], "why": why,
                      "href": f"/console/pipelines#{pipeline['name']}"})
        for node in pipeline["nodes"]:
            if node["kind"] in ("consumer",) or node["id"] in seen:
                continue
            seen.add(node["id"])
            href = {"table": f"/console/tables/{node['name']}", "stream": f"/console/streams/{node['name']}",
                    "dead_letter_queue": f"/console/dead-letters#{node['name']}",
                    "ingest_api": f"/console/pipelines#{pipeline['name']}"}[node["kind"]]
            items.append({"kind": node["kind"], "name": node["name"], "status": node["status"],
                          "why": _why(node), "href": href})
    nodes = _part_nodes(runtime, readings.tree)
    for name in runtime.streams:
        if f"stream:{name}" not in seen:
            status, why = _subtree_state(nodes.get(("stream", name)))
            items.append({"kind": "stream", "name": name, "status": status, "why": why or "running",
                          "href": f"/console/streams/{name}"})
    for name in runtime.tables:
        if f"table:{name}" not in seen:
            status, why = _subtree_state(nodes.get(("table", name)))
            items.append({"kind": "table", "name": name, "status": status, "why": why or "running",
                          "href": f"/console/tables/{name}"})
    for asset in assets or ():
        items.append({"kind": "asset", "name": asset["name"], "status": asset["status"], "why": asset["why"],
                      "href": f"/console/assets#{asset['name']}"})
    for child in readings.tree.get("children") or ():
        status, why = _subtree_state(child)
        items.append({"kind": "actor", "name": child.get("name"), "status": status, "why": why or "running",
                      "href": "/console/actors"})
    counts = {s: sum(1 for i in items if i["status"] == s) for s in ("ok", "warn", "fail")}
    return {"status": worst(*(i["status"] for i in items)), "counts": counts, "items": items,
            "at": readings.at}


def _why(node: dict[str, Any]) -> str:
    figures = node.get("figures") or {}
    if node.get("why"):
        return str(node["why"])
    kind = node["kind"]
    if kind == "ingest_api":
        if figures.get("closed"):
            return "closed (shutting down)"
        if figures.get("rejected_per_s"):
            return f"rejecting {figures['rejected_per_s']:g} records/s"
        return f"{figures.get('accepted_per_s', 0):g} records/s accepted"
    if kind == "dead_letter_queue":
        pending = figures.get("pending", 0)
        return f"{pending} dead letters waiting" if pending else "empty"
    if kind == "table":
        lag = figures.get("lag") or {}
        return f"{figures.get('commits', 0)} commits, lag {lag.get('records', 0)} records"
    if kind == "stream":
        return f"{figures.get('delivered_per_s', 0):g} records/s delivered"
    return "running"
