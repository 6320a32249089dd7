"""``sc-asterisk cdr export`` and ``report`` through the command line: every report figure is
recomputed from the exported file (CSV, Excel CSV, JSONL, Parquet) and must come out equal."""
from __future__ import annotations

import csv
import io
import json
import os
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, make_url, select, text

from bench.synthetic import T0_MS, create_campaign, insert_calls, synthetic_calls
from sc_asterisk.cli import main
from sc_asterisk.cli.common import cli
from sc_asterisk.config import Settings
from sc_asterisk.contacts.suppression import SuppressionStore
from sc_asterisk.keys import key_init, read_key
from sc_asterisk.db import CallAttempt, CallRecord, Database
from sc_asterisk.db.models_privacy import AuditEntry
from sc_asterisk.reports import ExportOptions, RowFilter, Tariff, compute_figures, export_cdr
from sc_asterisk.reports.columns import BOOL, EPOCH, FLOAT, INT, STR, segment_roles, typed_row
from sc_asterisk.reports.writers import CsvWriter, iso_ms, iso_ms_texts, neutralise

SCRIPT = [("optout-intro", 4220), ("message", 20000), ("notice", 15000)]
INJECTED = {"caller_id": '=HYPERLINK("http://ev.il","x")', "hangup_cause_txt": "@SUM(1+1)",
            "amd_cause": "\tcmd", "hung_up_by": "-1+2"}   # each fits its VARCHAR on PostgreSQL
REPORT_OPTIONS = ["--min-listen-s", "7", "--tz", "Europe/Paris", "--rate-per-minute", "0.012",
                  "--billing-increment", "30"]
TARIFF = Tariff(Decimal("0.012"), increment_s=30)


@pytest.fixture
def env(tmp_path: Path):
    """A database with two campaigns: 'muni' (300 synthetic calls, one never dialled, one erased
    person, one record carrying spreadsheet formulas) and 'other'."""
    url = f"sqlite:///{tmp_path / 'cdr.db'}"
    db = Database(url)
    home = tmp_path / "home"
    settings = Settings.load(db_url=url, home=str(home))
    db.upgrade()
    key_init(settings, db)             # as `db upgrade` does on a fresh install
    key = read_key(settings)
    fill(db, key)
    return {"db": db, "args": ["--db", url, "--home", str(home)], "key": key, "dir": tmp_path}


def fill(db: Database, key: str) -> None:
    db.upgrade()
    muni = create_campaign(db, "muni", SCRIPT)
    insert_calls(db, muni, synthetic_calls(300, SCRIPT, seed=3))
    insert_calls(db, create_campaign(db, "other", SCRIPT[1:]),
                 synthetic_calls(20, SCRIPT[1:], prefix="oth"))
    with db.session() as s:
        s.add(CallAttempt(id="never-dialled", campaign_id=muni, number="+33199000998"))
        erased = SuppressionStore(s, key).pseudonym("+33199000999")
        s.add(CallAttempt(id="erased", campaign_id=muni, number=erased, state="finished"))
        s.add(CallRecord(attempt_id="erased", outcome="answered", originate_ms=T0_MS,
                         answer_ms=T0_MS + 3000, end_ms=T0_MS + 9000, hangup_cause=16))
        record = s.get(CallRecord, "syn-0")
        for field, value in INJECTED.items():
            setattr(record, field, value)


def run(env, *args: str) -> str:
    result = CliRunner().invoke(cli, [*env["args"], *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def run_main(capsys, env, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main([*env["args"], *args])
    return exit_.value.code, capsys.readouterr().err


def report_json(env) -> dict:
    return json.loads(run(env, "report", "muni", "--json", *REPORT_OPTIONS))


def recompute(rows: list[dict], header: list[str]) -> dict:
    """What an auditor does: the figures from the file alone, through the JSON the report prints."""
    from zoneinfo import ZoneInfo
    figures = compute_figures(rows, segment_roles(header), min_listen_s=7,
                              tz=ZoneInfo("Europe/Paris"), tariff_for=lambda _trunk: TARIFF)
    return json.loads(json.dumps(figures))


def test_figures_recomputed_from_csv_equal_the_report(env):
    out = env["dir"] / "muni.csv"
    run(env, "cdr", "export", "--campaign", "muni", "-o", str(out))
    with out.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [typed_row(r) for r in reader]
    figures = report_json(env)
    assert figures["attempts"] == 302 and figures["answered"] > 100
    assert recompute(rows, reader.fieldnames) == figures


def test_figures_recomputed_from_excel_csv_and_jsonl_equal_the_report(env):
    excel, jsonl = env["dir"] / "muni-excel.csv", env["dir"] / "muni.jsonl"
    run(env, "cdr", "export", "--campaign", "muni", "--excel", "--rate-per-minute", "0.012",
        "-o", str(excel))
    run(env, "cdr", "export", "--campaign", "muni", "-o", str(jsonl))
    raw = excel.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b";" in raw.splitlines()[0]
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";")
    excel_rows = [typed_row(r) for r in reader]
    assert any("," in r["cost"] for r in csv.DictReader(
        io.StringIO(raw.decode("utf-8-sig")), delimiter=";") if r["cost"] not in ("", "0,0"))
    lines = jsonl.read_text().splitlines()
    jsonl_rows = [typed_row(json.loads(line)) for line in lines]
    figures = report_json(env)
    assert recompute(excel_rows, reader.fieldnames) == figures
    assert recompute(jsonl_rows, list(json.loads(lines[0]))) == figures


def test_parquet_has_typed_columns_and_the_same_figures(env):
    out = env["dir"] / "muni.parquet"
    run(env, "cdr", "export", "--campaign", "muni", "-o", str(out))  # format from the suffix
    schema = pq.read_schema(out)
    expected = {"attempt_id": pa.string(), "attempt_no": pa.int64(), "ring_ms": pa.int64(),
                "originate_at": pa.timestamp("ms", tz="UTC"),
                "answer_at": pa.timestamp("ms", tz="UTC"),
                "hangup_cause": pa.int64(), "message_listened_ms": pa.int64(),
                "message_heard_full": pa.bool_(), "optout_intro_stop_reason": pa.string(),
                "opted_out": pa.bool_(), "billed_s": pa.int64(), "cost": pa.float64(),
                "number_pseudonym": pa.string()}
    assert {name: schema.field(name).type for name in expected} == expected
    table = pq.read_table(out)
    assert recompute(table.to_pylist(), table.column_names) == report_json(env)


def test_timestamps_are_iso_8601_with_milliseconds_and_offset(env):
    text = run(env, "cdr", "export", "--campaign", "muni", "--tz", "Europe/Paris",
               "--fields", "attempt_id,originate_at,answer_at,ring_ms,connected_ms")
    rows = {r["attempt_id"]: r for r in csv.DictReader(io.StringIO(text))}
    erased = rows["erased"]   # originate 08:00:00.000Z, answer +3 s, end +9 s
    assert erased == {"attempt_id": "erased", "originate_at": "2024-05-01T10:00:00.000+02:00",
                      "answer_at": "2024-05-01T10:00:03.000+02:00", "ring_ms": "3000",
                      "connected_ms": "6000"}
    assert rows["never-dialled"]["originate_at"] == ""


def test_formula_cells_are_neutralised_but_numbers_stay_usable(env):
    text = run(env, "cdr", "export", "--campaign", "muni", "--no-pseudonymise")
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["attempt_id"] == "syn-0")
    for field, value in INJECTED.items():
        assert row[field] == "'" + value
    assert row["number"] == "+331900000000"      # a clear E.164 number is not a formula


def test_pseudonyms_are_stable_keyed_and_not_the_number(env, tmp_path):
    first = run(env, "cdr", "export", "--fields", "attempt_id,number_pseudonym")
    assert run(env, "cdr", "export", "--fields", "attempt_id,number_pseudonym") == first
    pseudonyms = dict(csv.reader(io.StringIO(first)))
    with env["db"].session() as s:
        store = SuppressionStore(s, env["key"])
        assert pseudonyms["syn-5"] == store.pseudonym("+331900000005")
        # An erased person's attempt already holds the pseudonym: it is not hashed again.
        assert pseudonyms["erased"] == store.pseudonym("+33199000999")
    assert not any(p.startswith("+") or "1900000" in p for p in pseudonyms.values())
    # Another home has no key of this installation: refused, never other pseudonyms.
    other_home = ["--db", env["args"][1], "--home", str(tmp_path / "other-installation")]
    elsewhere = CliRunner().invoke(cli, [*other_home, "cdr", "export", "--fields",
                                         "attempt_id,number_pseudonym"])
    assert elsewhere.exit_code != 0 and "copy its key" in elsewhere.exception.one_line()


def test_clear_numbers_are_audited_pseudonyms_are_not(env):
    run(env, "cdr", "export", "--campaign", "other")
    with env["db"].session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0
    out = env["dir"] / "clear.csv"
    run(env, "cdr", "export", "--campaign", "other", "--no-pseudonymise", "-o", str(out))
    assert out.read_text().splitlines()[1].split(",")[8] == "+331900000000"
    with env["db"].session() as s:
        entry = s.scalars(select(AuditEntry)).one()
        assert entry.action == "cdr-export-clear-numbers" and entry.subject is None
        assert entry.details["campaigns"] == ["other"] and entry.details["output"] == str(out)
        assert "number" in entry.details["fields"]


def test_a_failed_export_leaves_no_file(env, monkeypatch):
    import sc_asterisk.reports.export as export_module
    import sc_asterisk.reports.rows as rows_module
    from sc_asterisk.reports import RowFilter, export_cdr
    real, batches = export_module.iter_batches, []

    def failing(*args):
        for batch in real(*args):
            batches.append(len(batch[0]))
            if len(batches) == 2:   # after a first batch was written
                raise RuntimeError("database went away")
            yield batch

    monkeypatch.setattr(rows_module, "BATCH", 100)
    monkeypatch.setattr(export_module, "iter_batches", failing)
    target = env["dir"] / "calls.csv"
    target.write_text("previous export\n")
    with pytest.raises(RuntimeError):
        export_cdr(env["db"], env["key"], str(target), RowFilter(("muni",)))
    assert batches == [100, 100]
    assert target.read_text() == "previous export\n"
    assert sorted(p.name for p in env["dir"].iterdir() if "calls" in p.name) == ["calls.csv"]


def test_filters_and_fields(env):
    text = run(env, "cdr", "export", "--campaign", "muni", "--campaign", "other",
               "--since", "2024-05-01T08:00:10", "--until", "2024-05-01T08:00:20+00:00",
               "--fields", "campaign,attempt_id", "--fields", "outcome")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["campaign", "attempt_id", "outcome"]
    # Synthetic calls start every 250 ms from 08:00:00: 40 in [10 s, 20 s) per campaign; the
    # 20 'other' calls end at 4.75 s.
    assert len(rows) - 1 == 40 and {r[0] for r in rows[1:]} == {"muni"}


@pytest.mark.parametrize("args, message", [
    (["cdr", "export", "--campaign", "nope"],
     "no campaign named 'nope' (see: sc-asterisk campaign list)"),
    (["cdr", "export", "--fields", "attempt_id,phone"],
     "unknown field(s) phone (choose among: attempt_id"),
    (["cdr", "export", "--excel", "--format", "parquet", "-o", "x.parquet"],
     "--excel only applies to CSV"),
    (["cdr", "export", "-o", "no/such/dir/calls.csv"], "no directory no/such/dir"),
    (["cdr", "export", "--since", "yesterday"], "bad --since 'yesterday'"),
    (["cdr", "export", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    (["report", "muni", "--billing-increment", "60"], "a billing increment needs a rate"),
    (["report", "nope"], "no campaign named 'nope'"),
])
def test_bad_input_is_one_line_naming_the_fix(env, capsys, args, message):
    code, err = run_main(capsys, env, *args)
    assert code == 2 and err.startswith("Error: " + message) and err.count("\n") == 1


def test_report_text_shows_each_figure_with_its_definition(env):
    text = run(env, "report", "muni", *REPORT_OPTIONS)
    figures = report_json(env)
    assert "Listen rate (>= 7 s)" in text
    assert "= answered rows with message_listened_ms >= 7000, / answered" in text
    assert f"{100 * figures['listen']['heard_min_rate']:.1f} %" in text
    assert f"Cost estimate                {figures['cost']['amount']} for" in text


def test_report_writes_png_and_html_with_the_png_embedded(env):
    png, html = env["dir"] / "retention.png", env["dir"] / "report.html"
    run(env, "report", "muni", "--plot", str(png), "--html", str(html))
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    page = html.read_text()
    assert 'src="data:image/png;base64,' in page
    assert "answered rows with notice_heard_full = true, / answered" in page


def test_segment_columns_follow_every_campaigns_script(env):
    header = run(env, "cdr", "export").splitlines()[0].split(",")
    assert segment_roles(header) == ["optout_intro", "message", "notice"]
    other = run(env, "cdr", "export", "--campaign", "other").splitlines()[0].split(",")
    assert segment_roles(other) == ["message", "notice"]


CELLS = ["plain", "a,b", "a;b", 'say "hi"', "two\nlines", "cr\r", "", None, "=1+1", "+33612345678",
         "-x", "\tcmd", "é🙂", '"', "x\r\ny"]


@pytest.mark.parametrize("excel", [False, True])
def test_csv_rows_are_what_the_csv_module_writes(excel):
    # The writer joins cells itself: every cell must come out as csv.writer writes it.
    columns = [("caller_id", STR), ("ring_ms", INT), ("cost", FLOAT), ("opted_out", BOOL),
               ("amd_cause", STR)]
    rows = [(cell, i - 3 if i % 4 else None, i / 8 if i % 3 else None, [True, False, None][i % 3],
             CELLS[(i * 7) % len(CELLS)]) for i, cell in enumerate(CELLS)]
    expected = io.StringIO(newline="")
    reference = csv.writer(expected, delimiter=";" if excel else ",")
    reference.writerow([name for name, _ in columns])
    for text_, ring, cost, opted, amd in rows:
        reference.writerow([neutralise(text_) if text_ else text_, ring,
                            repr(cost).replace(".", ",") if excel and cost is not None else cost,
                            None if opted is None else str(opted).lower(),
                            neutralise(amd) if amd else amd])
    out = io.BytesIO()
    writer = CsvWriter(out, columns, timezone.utc, excel)
    writer.write_columns(list(zip(*rows)))
    writer.close()
    assert out.getvalue() == ("\ufeff" if excel else "").encode() + expected.getvalue().encode()


def test_a_single_column_csv_quotes_empty_cells_as_the_csv_module_does():
    out = io.BytesIO()
    writer = CsvWriter(out, [("amd_cause", STR)], timezone.utc)
    writer.write_columns([["x", None, "", "a,b"]])
    assert out.getvalue() == b'amd_cause\r\nx\r\n""\r\n""\r\n"a,b"\r\n'


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Asia/Kathmandu", "America/St_Johns",
                                  "Australia/Lord_Howe"])
def test_time_texts_are_iso_ms_across_clock_changes_and_odd_offsets(zone):
    # Days with a clock change (30 min on Lord Howe), local mean time (Paris 1890: +00:09:21),
    # before the epoch; steps just under 15 min cross minute and second boundaries.
    tz = ZoneInfo(zone)
    days = ["1890-01-01", "1969-12-31", "2024-03-31", "2024-04-06", "2024-10-05", "2024-10-27",
            "2024-11-03"]
    values = [None]
    for day in days:
        start = (datetime.fromisoformat(day).replace(tzinfo=timezone.utc) - EPOCH
                 ) // timedelta(milliseconds=1)
        values += [start + step * 899_999 + delta for step in range(200) for delta in (-1, 0, 1)]
    expected = [iso_ms(EPOCH + timedelta(milliseconds=ms), tz) if ms is not None else ""
                for ms in values]
    assert iso_ms_texts(tz, "")(values) == expected


@pytest.fixture
def pg_url():
    """A throw-away database on the server named by SC_ASTERISK_TEST_PG."""
    url = os.environ.get("SC_ASTERISK_TEST_PG")
    if not url:
        pytest.skip("set SC_ASTERISK_TEST_PG to a scratch PostgreSQL database URL")
    name = f"sc_export_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def test_postgresql_exports_the_same_files_as_sqlite(env, pg_url):
    pg = Database(pg_url)
    fill(pg, env["key"])
    variants = [("csv", ExportOptions()),
                ("csv", ExportOptions(excel=True, pseudonymise=False, tz=ZoneInfo("Europe/Paris"),
                                      tariffs=TARIFF)),
                ("jsonl", ExportOptions(fmt="jsonl", tariffs=TARIFF)),
                ("parquet", ExportOptions(fmt="parquet", tariffs=TARIFF))]
    try:
        for i, (suffix, options) in enumerate(variants):
            files = {}
            for name, db in (("sqlite", env["db"]), ("pg", pg)):
                files[name] = env["dir"] / f"{name}-{i}.{suffix}"
                assert export_cdr(db, env["key"], str(files[name]), RowFilter(), options) == 322
            if suffix == "parquet":
                assert pq.read_table(files["pg"]).equals(pq.read_table(files["sqlite"]))
            else:
                assert files["pg"].read_bytes() == files["sqlite"].read_bytes(), options
    finally:
        pg.engine.dispose()


@pytest.mark.parametrize("key", [b"k", b"x" * 64, b"y" * 65, b"\x00\xff" * 50, "clé".encode()])
def test_the_fast_keyed_hmac_is_hmac_sha256_for_any_key_length(key):
    import hashlib
    import hmac
    from sc_asterisk.reports.rows import keyed_hmac_sha256
    mac = keyed_hmac_sha256(key)
    for text_ in ["+33612345678", "", "é" * 70]:
        assert mac(text_) == hmac.new(key, text_.encode(), hashlib.sha256).hexdigest()


def test_a_role_played_twice_exports_its_first_play(env):
    from bench.synthetic import Call
    twice = create_campaign(env["db"], "twice", [("message", 20000), ("notice", 15000)])
    insert_calls(env["db"], twice, [Call("t-1", "+33199000990", "answered", T0_MS, T0_MS + 1000,
                                         T0_MS + 40000, segments=[
                                             ("message", 20000, 20000, True, "end"),
                                             ("message", 20000, 7000, False, "hangup"),
                                             ("notice", 15000, 0, False, "not_reached")])])
    with env["db"].session() as s:   # the first play is not the lowest row id
        s.execute(text("UPDATE segment_listen SET position = 5 - position"
                       " WHERE attempt_id = 't-1' AND role = 'message'"))
    text_ = run(env, "cdr", "export", "--campaign", "twice", "--fields",
                "attempt_id,message_listened_ms,message_heard_full,message_stop_reason")
    assert text_.splitlines()[1:] == ["t-1,7000,false,hangup"]
