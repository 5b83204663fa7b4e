"""Health and readiness reports built from the server state (plain functions)."""

from __future__ import annotations

from typing import Any

from ._metrics import walk_tree

_RANK = {"ok": 0, "warn": 1, "fail": 2}


def ready_state(state: Any) -> tuple[bool, str]:
    """``state.ready()`` as ``(ready, why_not)``; a bare ``bool`` is accepted too."""
    result = state.ready()
    if isinstance(result, tuple):
        return bool(result[0]), str(result[1] or "")
    return bool(result), "" if result else str(getattr(state, "not_ready_reason", "") or "starting")


def health_report(state: Any) -> dict[str, Any]:
    """``GET /health``: the process is serving; per-component details.

    Components: ``server`` (ready or why not), one entry per actor that is not running
    (``state`` ``restarting`` → warn, ``failed`` → fail), and whatever ``state.health()`` adds
    (e.g. asset freshness). ``status`` is the worst component status. The endpoint answers 200
    whatever the status (it is a liveness probe: a failed component is reported, not a reason to
    kill the process); ``GET /ready`` is the one that answers 503.
    """
    ready, why = ready_state(state)
    components: dict[str, dict[str, Any]] = {
        "server": {"status": "ok" if ready else "warn", "ready": ready, "shutting_down": state.shutting_down}
    }
    if why:
        components["server"]["reason"] = why
    try:
        tree = state.tree()
    except Exception as exc:  # report, never fail the probe
        components["actors"] = {"status": "warn", "error": f"{type(exc).__name__}: {exc}"}
    else:
        counts: dict[str, int] = {}
        for actor in walk_tree(tree):
            current = str(actor.get("state", "running"))
            counts[current] = counts.get(current, 0) + 1
            if current in ("restarting", "failed"):
                components[f"actor:{actor.get('path') or actor.get('name')}"] = {
                    "status": "fail" if current == "failed" else "warn",
                    "state": current,
                    "restarts": actor.get("restarts", 0),
                }
        components["actors"] = {"status": "ok", "states": counts}
    extra = getattr(state, "health", None)
    if extra is not None:
        components.update(extra())
    worst = max((_RANK.get(str(c.get("status")), 1) for c in components.values()), default=0)
    return {"status": ("ok", "warn", "fail")[worst], "components": components}


def readiness(state: Any) -> tuple[int, dict[str, Any]]:
    """``GET /ready``: 200 once everything started, 503 while starting or shutting down."""
    ready, why = ready_state(state)
    if state.shutting_down:
        ready, why = False, why or "shutting down"
    if ready:
        return 200, {"ready": True}
    return 503, {"ready": False, "reason": why or "starting"}
