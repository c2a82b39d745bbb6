"""``/metrics`` on a running journal: scraped over HTTP and parsed strictly (Prometheus text 0.0.4)."""

from __future__ import annotations

import httpx
import pytest

from prom_text import parse


def test_parser_is_strict() -> None:
    good = '# TYPE a_total counter\na_total{x="1"} 2\n'
    assert parse(good)["a_total"].value(x="1") == 2
    for bad in ('a_total{x="1"} 2', '# TYPE a counter\na{x=1} 2\n', 'a 1\nb 1\na 2\n', '1a 2\n',
                '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
                'a{x="\\q"} 1\n', 'a 1\na 1\n'):
        with pytest.raises(ValueError):
            parse(bad)


def test_journal_serves_request_pool_and_audit_figures(journal_server) -> None:
    with httpx.Client(base_url=journal_server.base, timeout=10) as client:
        r = client.post("/api/v1/login", json={"username": "lakare", "password": "demo"})
        assert r.status_code == 200, r.text
        client.headers["Authorization"] = f"Bearer {r.json()['token']}"
        units = [u for u in client.get("/api/v1/units").json() if u["admitted"] > 0]
        patients = client.get(f"/api/v1/units/{units[0]['id']}/patients").json()
        assert client.get(f"/api/v1/patients/{patients[0]['id']}").status_code == 200  # an audited read
        assert client.get("/api/v1/patients/999999999").status_code in (403, 404)
        scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = parse(scrape.text)

    requests = families["obruten_http_requests_total"]
    assert requests.type == "counter"
    assert requests.value(method="POST", route="/api/v1/login", status="200") >= 1
    # route templates, never a patient id in a label
    assert requests.value(method="GET", route="/api/v1/patients/{patient}", status="200") >= 1
    assert not any("999999999" in v for _, labels, _v in requests.samples for v in labels.values())
    latency = families["obruten_http_request_duration_seconds"]
    assert latency.type == "histogram"
    [(_, logins)] = [(lab, v) for lab, v in latency.series("_count") if lab["route"] == "/api/v1/login"]
    assert logins >= 1

    assert families["obruten_db_pool_pool_size"].type == "gauge"
    assert families["obruten_db_pool_pool_size"].value() >= 1
    assert families["obruten_db_pool_requests_num_total"].value() >= 1
    assert families["obruten_audit_queue_events"].value() >= 0
    flush = families["obruten_audit_flush_seconds"]
    assert flush.type == "histogram"
    assert sum(v for lab, v in flush.series("_count") if lab["outcome"] == "ok") >= 1
    assert families["obruten_audit_events_total"].value(outcome="ok") >= 2  # the login and the read
