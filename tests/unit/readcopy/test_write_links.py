"""The read copy strips write controls from the journal's pages: by the route they lead to, or the
write verb they are labelled with; everything else is passed through as written."""

from __future__ import annotations

from obruten.readcopy.web import refuses_any
from obruten.readcopy.write_links import strip_write_controls

PAGE = """<!doctype html><html lang="sv"><body><nav><a href="/ward/AVD1">AVD1</a></nav>
<p class="actions"><a href="/patients/7/note/new">Skriv anteckning</a> <a href="/patients/7/referral/new">Skapa remiss</a></p>
<table><tr><td><a href="/medication/abc">Furix 40 mg</a></td><td><a href="/medication/abc"> Administrera </a></td></tr>
<tr><td><a href="/history/note/n1">Historik</a> <a href="/notes/n1/correct">Rätta</a></td></tr></table>
<form method="post" action="/medication/abc/administrations"><input name="dose"><button>Signera</button></form>
<form method="get" action="/search"><input name="personal_number"></form>
<form method="post" action="/logout"><button>Logga ut</button></form>
<p>Å&amp;Ä &#246; <!-- kept --></p><img src="/x.png" alt=""/></body></html>"""


def test_write_links_and_forms_go_and_reads_stay() -> None:
    out = strip_write_controls(PAGE, refuses_any)
    for gone in ("/note/new", "/referral/new", "Administrera", "/correct", "Rätta", "/administrations", "Signera",
                 "Skriv anteckning"):
        assert gone not in out, gone
    for kept in ('<a href="/ward/AVD1">AVD1</a>', '<a href="/medication/abc">Furix 40 mg</a>',
                 '<a href="/history/note/n1">Historik</a>', 'action="/search"', 'action="/logout"',
                 "Å&amp;Ä &#246; <!-- kept -->", '<img src="/x.png" alt=""/>', "<!doctype html>"):
        assert kept in out, kept


def test_a_page_without_write_controls_is_unchanged() -> None:
    page = '<html><body><a href="/ward/X">X</a><form action="/search"><input name="q"></form></body></html>'
    assert strip_write_controls(page, refuses_any) == page
