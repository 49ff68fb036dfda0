"""Rewrite stored hypotheses into the one shape of incidents.analysis (issue 8).

Rows written before held evidence as bare event ids (the seed data), client ids, dicts keyed
`id`/`pk`, or the engine's {"event", "client_id", "weight"}; hypotheses could lack `score`,
`pattern` or `reasons`. Every evidence entry becomes {"event": pk, "client_id", "weight"} (a
client id is looked up; one that names no stored event is dropped, as the console dropped it),
and every hypothesis gets all five keys. Not reversible to the mixed shapes: backwards is a no-op.
"""
from django.db import migrations


def _refs(raw) -> list[tuple[object, float | None]]:
    refs = []
    for item in raw or []:
        if isinstance(item, dict):
            ref = item.get("event", item.get("id", item.get("pk")))
            weight = item.get("weight")
            refs.append((ref, float(weight) if isinstance(weight, (int, float)) and not isinstance(weight, bool) else None))
        else:
            refs.append((item, None))
    return [(r, w) for r, w in refs if r is not None and not isinstance(r, bool)]


def forwards(apps, schema_editor):
    Incident = apps.get_model("incidents", "Incident")
    Event = apps.get_model("incidents", "Event")
    for incident in Incident.objects.exclude(hypotheses=[]).only("pk", "hypotheses").iterator(chunk_size=500):
        hypotheses = [h for h in incident.hypotheses or [] if isinstance(h, dict) and isinstance(h.get("service"), str) and h["service"]]
        refs = [_refs(h.get("evidence")) for h in hypotheses]
        pks = {r for rs in refs for r, _ in rs if isinstance(r, int)}
        cids = {str(r) for rs in refs for r, _ in rs if isinstance(r, str)}
        by_pk = dict(Event.objects.filter(pk__in=pks).values_list("pk", "client_id")) if pks else {}
        by_cid = dict(Event.objects.filter(client_id__in=cids).values_list("client_id", "pk")) if cids else {}
        shaped = []
        for h, rs in zip(hypotheses, refs):
            evidence = []
            for ref, weight in rs:
                if isinstance(ref, str):
                    pk = by_cid.get(ref)
                    if pk is None:
                        continue
                    evidence.append({"event": pk, "client_id": ref, "weight": weight})
                elif isinstance(ref, int):
                    evidence.append({"event": ref, "client_id": by_pk.get(ref), "weight": weight})
            score = h.get("score")
            shaped.append({
                "service": h["service"],
                "score": float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else 0.0,
                "pattern": h.get("pattern") if isinstance(h.get("pattern"), str) and h.get("pattern") else None,
                "reasons": [str(r) for r in h.get("reasons") or []],
                "evidence": evidence,
            })
        if shaped != incident.hypotheses:
            Incident.objects.filter(pk=incident.pk).update(hypotheses=shaped)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0004_pattern_feedback_tables")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
