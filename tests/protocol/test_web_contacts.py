"""Contacts and suppression through HTTP: an import job with its progress and rejects file,
a number looked up, exported and erased, suppression added, checked and imported; bad input is
one line and writes nothing; numbers never in URLs."""
from __future__ import annotations

import csv
import io
import time

from sqlalchemy import func, select

from sc_asterisk.db import Contact
from sc_asterisk.db.models_privacy import AuditEntry, ImportBatch

GOOD = ["06 12 34 56 78", "+33 6 98 76 54 32", "06 45 67 89 01"]
FILE = ("phone,first_name\n" + "".join(f"{n},P{i}\n" for i, n in enumerate(GOOD))
        + "12,Short\n").encode()


def until_done(client, job_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/v1/contacts/imports/{job_id}").json()
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def contacts(env) -> int:
    with env.db.session() as s:
        return s.scalar(select(func.count()).select_from(Contact))


def test_import_job_progress_summary_and_rejects(web):
    client, before = web.client("operator"), contacts(web)
    response = client.post("/api/v1/contacts/imports?filename=liste.csv&list=nord"
                           "&legal_basis=consent", content=FILE)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["total"] == len(FILE) and started["state"] in ("running", "complete")
    job = until_done(client, started["id"])
    assert job["state"] == "complete" and job["done"] == job["total"] == len(FILE)
    assert job["summary"]["created"] == 3, job["summary"]
    assert sum(job["summary"]["rejected"].values()) == 1
    assert job["rejects"] is True
    rejects = client.get(f"/api/v1/contacts/imports/{job['id']}/rejects.csv")
    assert rejects.status_code == 200
    rows = list(csv.reader(io.StringIO(rejects.text)))
    assert len(rows) == 2 and rows[1][0] == "5" and "12" in rows[1]   # header + line 5
    assert contacts(web) == before + 3
    with web.db.session() as s:
        assert s.scalars(select(ImportBatch.imported_by)).one() == "web:operator"
        actions = set(s.scalars(select(AuditEntry.action)))
    assert {"contacts-import", "contacts-rejects-download"} <= actions
    # the same file again: nothing new
    again = until_done(client, client.post("/api/v1/contacts/imports?filename=liste.csv"
                                           "&list=nord&legal_basis=consent",
                                           content=FILE).json()["id"])
    assert again["summary"]["already_imported"] and contacts(web) == before + 3


def test_bad_imports_are_one_line_and_write_nothing(web):
    client, before = web.client("operator"), contacts(web)
    cases = [("/api/v1/contacts/imports?filename=liste.exe", FILE, 422),
             ("/api/v1/contacts/imports?filename=liste.csv&legal_basis=whim", FILE, 400),
             ("/api/v1/contacts/imports?filename=liste.csv", b"", 400),
             ("/api/v1/contacts/imports?filename=liste.csv", b"name,city\nAna,Paris\n", 400),
             ("/api/v1/contacts/imports?filename=liste.csv&mapping=nonsense", FILE, 400)]
    for path, body, status in cases:
        response = client.post(path, content=body)
        assert response.status_code == status, (path, response.text)
        assert "\n" not in response.json()["error"]
    missing = client.get("/api/v1/contacts/imports/feedc0de")
    assert missing.status_code == 404 and "start the import again" in missing.json()["error"]
    assert contacts(web) == before
    with web.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_lookup_suppress_check_export_erase(web):
    operator, admin = web.client("operator"), web.client("admin")
    until_done(operator, operator.post("/api/v1/contacts/imports?filename=l.csv"
                                       "&legal_basis=consent", content=FILE).json()["id"])
    held = operator.post("/api/v1/contacts/lookup", json={"number": GOOD[0]}).json()
    assert held["contact"]["first_name"] == "P0" and held["suppression"] is None
    assert operator.post("/api/v1/suppressions/check",
                         json={"number": GOOD[1]}).json()["suppressed"] is False
    added = operator.post("/api/v1/suppressions", json={"number": GOOD[1], "reason": "letter"})
    assert added.status_code == 200 and added.json()["already"] is False
    again = operator.post("/api/v1/suppressions", json={"number": GOOD[1], "reason": "letter"})
    assert again.json()["already"] is True
    checked = operator.post("/api/v1/suppressions/check", json={"number": GOOD[1]}).json()
    assert checked["suppressed"] and checked["reason"] == "letter"
    assert checked["source"] == "web:operator"
    exported = admin.post("/api/v1/contacts/export", json={"number": GOOD[0]}).json()
    assert exported["contact"]["first_name"] == "P0" and "call_attempts" in exported
    erased = admin.post("/api/v1/contacts/erase", json={"number": GOOD[0]}).json()
    assert erased["contact_deleted"] is True
    after = operator.post("/api/v1/contacts/lookup", json={"number": GOOD[0]}).json()
    assert after["contact"] is None and after["suppression"]["reason"] == "erased"
    with web.db.session() as s:
        actions = [(a, who) for a, who in s.execute(select(AuditEntry.action, AuditEntry.actor))]
    assert ("subject-export", "web:admin") in actions and ("erase", "web:admin") in actions
    bad = operator.post("/api/v1/contacts/lookup", json={"number": "12"})
    assert bad.status_code == 400 and "\n" not in bad.json()["error"]


def test_suppression_import(web):
    client = web.client("operator")
    body = "\n".join(GOOD + ["not a number"]).encode()
    response = client.post("/api/v1/suppressions/import?filename=dnc.txt&reason=dnc",
                           content=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["added"] == 3 and sum(result["rejected"].values()) == 1
    assert client.post("/api/v1/suppressions/check",
                       json={"number": GOOD[2]}).json()["reason"] == "dnc"
