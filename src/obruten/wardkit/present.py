"""How kit data reads on paper and on screen: the one place that turns the kit document into lines.

Used by the PDF, the offline HTML file and the ward agent's pages, so all three say the same.
Times are shown in Europe/Stockholm, 24 h.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
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
    doses = sorted((due, m["drug"]) for m in p["medications"] for due in m["schedule_next_24h"][:1])
    return f"{day_clock(doses[0][0])} {doses[0][1]}" if doses else "–"


# the helpers kit templates use (the offline HTML file and the ward agent's pages)
TEMPLATE_HELPERS = {"when": when, "clock": clock, "day_clock": day_clock, "heading": patient_heading,
                    "warning_line": warning_line, "drug_line": drug_line, "frequency_line": frequency_line,
                    "schedule_line": schedule_line, "given_lines": given_lines, "referral_line": referral_line, "next_dose": next_dose}
