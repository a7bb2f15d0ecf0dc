"""The platform's AsyncAPI document (3.1), generated from the event contracts and the topic list.

Each service serves the part it publishes and consumes at ``/asyncapi`` (``/asyncapi.json``);
``make asyncapi`` writes the whole platform's document to ``docs/asyncapi.json``. Generated from the pydantic
contracts rather than from FastStream's subscriber signatures because our handlers receive raw records:
the contracts are where the payload schemas live.

Every event model's JSON Schema (draft 2020-12, as pydantic writes it) is published in ``components.schemas`` under
its CloudEvents type, and the models it nests under their own names beside it: pydantic puts those in a ``$defs``
inside each schema, and a ``$ref`` to ``#/$defs/...`` is resolved against the root of the AsyncAPI document, where
there is no ``$defs``, so code generators failed on the platform's most important event (issue 17). The document is
checked by the AsyncAPI project's own CLI (``tests/unit/common/test_asyncapi_cli.py``).
"""

from __future__ import annotations

import html
from typing import Any

from common.contracts import EVENT_TYPES, Event
from common.topics import CONSUMER_GROUPS, all_topics

SCHEMA_REF = "#/components/schemas/{model}"

CLOUDEVENTS_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "Unique event id; consumers de-duplicate on it."},
        "ce_source": {"type": "string", "description": "/services/<service> that published it."},
        "ce_type": {"type": "string", "description": "The event type, versioned."},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The aggregate the event is about."},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context of the publishing request."},
    },
}


def _publisher_of(event: type[Event]) -> str:
    return event.TYPE.split(".")[2]


def event_schema(event: type[Event], ref_template: str = SCHEMA_REF) -> dict[str, Any]:
    """The event's JSON Schema with its nested models' ``$ref``s pointing at ``ref_template`` (their ``$defs`` are
    still in it, for :func:`hoist`)."""
    return event.model_json_schema(ref_template=ref_template)


def hoist(schema: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """Moves the schema's ``$defs`` into ``shared`` (the document's ``components.schemas``) and returns the rest.
    Two events nesting a model of the same name must nest the same model: a clash would make one ``$ref`` lie."""
    schema = dict(schema)
    for name, definition in schema.pop("$defs", {}).items():
        if shared.setdefault(name, definition) != definition:
            raise ValueError(f"two different nested models are both called {name!r}: rename one")
    return schema


def schema_name(event: type[Event]) -> str:
    return event.TYPE.removeprefix("cn.smartedu.")


def document(service: str | None = None) -> dict[str, Any]:
    """AsyncAPI 3.1 for one service (what it sends and receives) or, with ``service=None``, the platform."""
    events = [e for e in EVENT_TYPES.values() if service is None or _publisher_of(e) == service]
    groups = [g for g in CONSUMER_GROUPS if service is None or g.service == service]
    topics = {t.name: t for t in all_topics()}
    channel_names = sorted({e.TOPIC for e in events} | {t for g in groups for t in g.topics})
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name in channel_names:
        topic = topics.get(name)
        msg_refs = {}
        for event in sorted(EVENT_TYPES.values(), key=lambda e: e.TYPE):
            if name != event.TOPIC:
                continue
            msg_id = event.TYPE.removeprefix("cn.smartedu.").replace(".", "_")
            schemas[schema_name(event)] = hoist(event_schema(event), schemas)
            messages[msg_id] = {
                "name": event.TYPE,
                "title": event.__name__,
                "summary": (event.__doc__ or "").strip().split("\n\n")[0],
                "contentType": "application/json",
                "headers": CLOUDEVENTS_HEADERS,
                "payload": {"$ref": SCHEMA_REF.format(model=schema_name(event))},
                "bindings": {"kafka": {"key": {"type": "string", "description": "aggregate id"}}},
            }
            msg_refs[msg_id] = {"$ref": f"#/components/messages/{msg_id}"}
        channels[name] = {
            "address": name,
            "description": topic.description if topic else "",
            "messages": msg_refs,
            "bindings": {
                "kafka": {
                    "partitions": topic.partitions if topic else None,
                    "topicConfiguration": {"cleanup.policy": [topic.cleanup_policy]} if topic else {},
                }
            },
        }
    for event in events:
        if event.SUPERSEDED_BY:  # still read from the topic (its message stays in the channel), never sent
            continue
        op_id = f"publish_{event.TYPE.removeprefix('cn.smartedu.').replace('.', '_')}"
        msg_id = event.TYPE.removeprefix("cn.smartedu.").replace(".", "_")
        operations[op_id] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{event.TOPIC}"},
            "messages": [{"$ref": f"#/channels/{event.TOPIC}/messages/{msg_id}"}],
            "summary": f"{_publisher_of(event)} publishes {event.__name__}",
        }
    for g in groups:
        for name in g.topics:
            operations[f"consume_{g.name}_{name}".replace(".", "_").replace("-", "_")] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{name}"},
                "summary": f"{g.service} consumer group {g.name}: {g.description}",
                "bindings": {"kafka": {"groupId": {"type": "string", "const": g.name}}},
            }
    title = "National Smart Education Platform" + (f" — {service}" if service else "")
    return {
        "asyncapi": "3.1.0",
        "info": {
            "title": f"{title} events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 in Kafka binary mode: JSON body, ce_* headers, key = aggregate id.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def html_page(doc: dict[str, Any]) -> str:
    """A dependency-free HTML view (the AsyncAPI web component needs a CDN, which operators may not have)."""
    rows = []
    for _, op in sorted(doc["operations"].items()):
        channel = op["channel"]["$ref"].rsplit("/", 1)[-1]
        rows.append(
            f"<tr><td>{op['action']}</td><td><code>{html.escape(channel)}</code></td>"
            f"<td>{html.escape(op.get('summary', ''))}</td></tr>"
        )
    msgs = []
    for msg in doc["components"]["messages"].values():
        payload = doc["components"]["schemas"][msg["payload"]["$ref"].rsplit("/", 1)[-1]]
        schema = html.escape(str(list(payload.get("properties", {}).keys())))
        msgs.append(
            f"<tr><td><code>{html.escape(msg['name'])}</code></td><td>{html.escape(msg['summary'])}</td>"
            f"<td>{schema}</td></tr>"
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(doc["info"]["title"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}}</style>
</head><body><h1>{html.escape(doc["info"]["title"])}</h1><p>{html.escape(doc["info"]["description"])}
 The machine-readable document is at <a href="asyncapi.json">asyncapi.json</a>.</p>
<h2>Operations</h2><table><tr><th>action</th><th>channel</th><th>summary</th></tr>{"".join(rows)}</table>
<h2>Messages</h2><table><tr><th>type</th><th>summary</th><th>fields</th></tr>{"".join(msgs)}</table></body></html>"""


if __name__ == "__main__":
    import json
    import sys

    json.dump(document(), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
