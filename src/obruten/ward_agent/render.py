"""How the ward agent's pages are rendered: language (Swedish by default, ``?lang=en``), the
stale-kit alarm, the region's status banner, and the templates of the agent and the kits. The one
place both the kit pages (``app.py``) and the downtime pages (``web.py``) render through."""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from obruten.platform.i18n import LANGUAGES, local_time, pick_language, translator
from obruten.status.banner import banner_css, render_banner
from obruten.ward_agent.agent import Agent
from obruten.wardkit import present

LANG_COOKIE = "lang"
log = logging.getLogger("obruten.ward_agent")


def language(request: Request) -> str:
    return pick_language(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE),
                         request.app.state.settings.language)


def banner(request: Request, t: Callable[..., str]) -> str | None:
    """The alarm sentence when the newest kit is older than the threshold (or missing), else None."""
    agent: Agent = request.app.state.agent
    age = agent.age_minutes()
    if age is None:
        return t("agent.no_kit")
    if age > agent.settings.stale_after_min:
        return t("agent.stale", minutes=int(age), limit=f"{agent.settings.stale_after_min:g}")
    return None


def render(request: Request, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    """A page of the agent (Swedish by default, ``?lang=en``), with the stale-kit banner."""
    lang = language(request)
    t = translator(lang)
    agent: Agent = request.app.state.agent
    base = {"request": request, "t": t, "lang": lang, "other_lang": "en" if lang == "sv" else "sv",
            "alarm": banner(request, t), "age": agent.age_minutes(), "fetch": agent.state,
            "settings": agent.settings, "local": local_time,
            "status_banner": Markup(render_banner(request.app.state.status_ledger.current(), lang,
                                                  [agent.settings.unit]))}
    response = request.app.state.templates.TemplateResponse(request, template, {**base, **context},
                                                            status_code=status_code)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def templates() -> Jinja2Templates:
    folders = [Path(str(resources.files(package).joinpath("templates")))
               for package in ("obruten.ward_agent", "obruten.wardkit")]
    templates = Jinja2Templates(directory=folders)
    templates.env.globals.update(present.TEMPLATE_HELPERS)
    templates.env.globals["banner_css"] = banner_css
    return templates
