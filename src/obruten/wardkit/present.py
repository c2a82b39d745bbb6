"""How kit data reads on paper and on screen: the one place that turns the kit document into lines.

Used by the PDF, the offline HTML file and the ward agent's pages, so all three say the same.
Times are shown in Europe/Stockholm, 24 h.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache

from obruten.platform.i18n import local_time


@lru_cache(maxsize=8192)   # a ward's kit repeats the same few dose times hundreds of times
def when(value: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An ISO time from the kit data, shown in Europe/Stockholm."""
    if not value:
        return ""
    return local_time(datetime.fromisoformat(value), fmt)


def clock(value: str | None) -> str:
    return when(value, "%H:%M")


def day_clock(value: str | None) -> str:
    """``22/11 08:00``: short, but unambiguous across midnight."""
    return when(value, "%d/%m %H:%M")


def warning_line(w: dict, t: Callable[..., str]) -> str:
    return f"{t('kit.severity.' + w['severity'])} · {t('kit.kind.' + w['kind'])}: {w['text']}"


def drug_line(m: dict) -> str:
    return f"{m['drug']} {m['strength']}"


def frequency_line(m: dict, t: Callable[..., str]) -> str:
    times = ", ".join(m["times"])
    if m["as_needed"]:
        label = t("kit.as_needed")
        return m["frequency"] if label in m["frequency"] else f"{m['frequency']} ({label})"
    return f"{m['frequency']} ({times})" if times else m["frequency"]


def schedule_line(m: dict, t: Callable[..., str]) -> str:
    if m["as_needed"]:
        return t("kit.as_needed")
    return ", ".join(day_clock(due) for due in m["schedule_next_24h"]) or "–"


def given_lines(m: dict, t: Callable[..., str]) -> list[str]:
    lines = []
    for g in m["given_last_24h"]:
        if g["outcome"] == "given":
            lines.append(f"{day_clock(g['clinical_at'])} {t('kit.given')} {g['dose_given']} ({g['by']})")
        else:
            lines.append(f"{day_clock(g['clinical_at'])} {t('kit.not_given')}: {g['not_given_reason'] or ''} "
                         f"({g['by']})")
    return lines or ["–"]


def patient_heading(p: dict) -> str:
    return f"{p['family_name']}, {p['given_name']}  {p['personal_number']}"


def referral_line(r: dict, t: Callable[..., str]) -> str:
    urgent = f" ({t('kit.urgent')})" if r["priority"] == "urgent" else ""
    question = f" – {r['question']}" if r["question"] else ""
    return f"{r['order_number']} {r['tests']}{urgent}{question} · {when(r['clinical_at'])}"


def next_dose(p: dict) -> str:
    """The patient's next scheduled administration: ``22/11 14:00 Alvedon``, or ``–``."""
    doses = next_doses(p)
    return doses[0] if doses else "–"


def next_doses(p: dict) -> list[str]:
    """Every scheduled order's next administration, soonest first: ``22/11 14:00 Alvedon 1 g``
    (a patient on five drugs has five lines, not only the first)."""
    doses = sorted((due, f"{m['drug']} {m['dose']}") for m in p["medications"] for due in m["schedule_next_24h"][:1])
    return [f"{day_clock(due)} {what}" for due, what in doses]


# ---- the shift's facts: age, sex, weight, bed, responsible physician, code status -------------------
def age(p: dict, as_of: str) -> int:
    """Whole years at ``as_of``."""
    born = date.fromisoformat(p["birth_date"])
    on = datetime.fromisoformat(as_of).date()
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def fact(p: dict, kind: str) -> str | None:
    """The value of the newest recorded fact (``weight_kg``, ``code_status``, ``bed``,
    ``responsible_physician``: the physician's name), or None when none is recorded."""
    f = (p.get("facts") or {}).get(kind)
    if not f:
        return None
    return str(f["staff"] if kind == "responsible_physician" else f["value"])


def facts_line(p: dict, as_of: str, t: Callable[..., str]) -> str:
    """``Säng 12B · 86 år · Kvinna · Vikt 72,5 kg · PAL: Eva Ek · HLR: Ej HLR``; unrecorded facts say so."""
    missing = t("kit.not_recorded")
    weight = fact(p, "weight_kg")
    code = fact(p, "code_status")
    parts = [t("kit.bed", bed=fact(p, "bed") or missing),
             t("kit.age", years=age(p, as_of)), t("kit.sex." + p.get("sex", "X")),
             t("kit.weight", kg=weight.replace(".", ",") if weight else missing),
             t("kit.physician", name=fact(p, "responsible_physician") or missing),
             t("kit.code_status", status=t("kit.code." + code) if code else missing)]
    return " · ".join(parts)


# ---- the medication administration record -------------------------------------------------------
def doses_within(m: dict, as_of: str, hours: float) -> list[str]:
    """The scheduled times of ``m`` in the first ``hours`` after ``as_of`` (the kit holds 24 h)."""
    end = datetime.fromisoformat(as_of) + timedelta(hours=hours)
    return [due for due in m["schedule_next_24h"] if datetime.fromisoformat(due) <= end]


def prn_max(m: dict, t: Callable[..., str]) -> str:
    """An as-needed order's maximum per 24 h: the structured maximum when the order has one, else
    the prescriber's frequency text (today's order model keeps the maximum there)."""
    if m.get("max_24h"):
        return t("kit.max_24h", max=m["max_24h"])
    return t("kit.max_24h", max=m["frequency"])


def result_line(r: dict) -> str:
    return f"{day_clock(r['clinical_at'])} {r['tests']}: {r['text']}"


def status_line(status: dict | None, t: Callable[..., str]) -> str:
    """The region's status message in force for the unit when the kit was built, in one line."""
    if not status:
        return t("kit.status_none")
    text = " · ".join(x for x in (t("status.mode." + status["mode"]), status.get("headline"), status.get("routine")) if x)
    return t("kit.status", text=text, time=when(status["issued_at"]))


# the helpers kit templates use (the offline HTML file and the ward agent's pages)
TEMPLATE_HELPERS = {"when": when, "clock": clock, "day_clock": day_clock, "heading": patient_heading,
                    "warning_line": warning_line, "drug_line": drug_line, "frequency_line": frequency_line,
                    "schedule_line": schedule_line, "given_lines": given_lines, "referral_line": referral_line,
                    "next_dose": next_dose, "next_doses": next_doses, "facts_line": facts_line,
                    "prn_max": prn_max, "result_line": result_line, "status_line": status_line}
