"""The alert and model-event records of a run: one shape for the live topics (`<p>.alerts`,
`<p>.model-events`, which the sink writes as they are) and a replay's rows in the same tables.

>>> alert_record("fraud", "r1", {"model": "lr", "kind": "loss_drift", "ts": 5, "value": 0.4, "action": "promote"})["detail"]
''
>>> [(e["model"], e["action"], e["version"]) for e in action_events(
...     {"action": "promote", "model": "hat", "previous": "lr", "ts": 7})]
[('hat', 'promote', 0), ('lr', 'demote', 0)]
"""

from __future__ import annotations

from typing import Any

from learners.registry import ModelEvent


def alert_record(pipeline: str, run_id: str, alert: dict[str, Any]) -> dict[str, Any]:
    """The `alerts` record of a drift monitor's (or a worker's) alert."""
    return {"pipeline": pipeline, "run_id": run_id, "model": alert["model"], "kind": alert["kind"],
            "ts": int(alert["ts"]), "value": float(alert.get("value") or 0.0),
            "action": str(alert.get("action", "none")), "detail": str(alert.get("detail", ""))}


def model_event_record(pipeline: str, run_id: str, event: ModelEvent) -> dict[str, Any]:
    """The `model_events` record of a registry event (`ModelRegistry` emits them)."""
    return {"pipeline": pipeline, "run_id": run_id, "model": event["model"], "version": int(event["version"]),
            "action": event["action"], "ts": int(event["ts"]), "detail": str(event.get("detail", ""))}


def action_events(action: dict[str, Any], version: int = 0) -> list[ModelEvent]:
    """The model events of a drift action done without a registry (a replay: its models are never
    versioned, `version` 0), as the registry words them for a live learner."""
    name, ts = action["model"], int(action["ts"])
    if action["action"] == "promote":
        old = action.get("previous")
        events = [{"model": name, "version": version, "action": "promote", "ts": ts,
                   "detail": f"champion (was {old or 'none'})"}]
        if old:
            events.append({"model": old, "version": version, "action": "demote", "ts": ts,
                           "detail": f"challenger (champion is now {name})"})
        return events
    return [{"model": name, "version": version, "action": action["action"], "ts": ts,
             "detail": f"{action['action']} v{version}"}]
