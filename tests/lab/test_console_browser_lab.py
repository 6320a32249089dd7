"""The console in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by selenium) against ``sc-asterisk web`` and ``sc-asterisk serve`` on the lab, SIPp
callees answering: log in, import contacts (progress bar, refused row), see the lab node's
live state, upload the prompts, create a campaign, count and queue its audience,
start it, watch the live counters move, pause, resume, read the final report and retention
curve, download the CDR export and compare it with the database and with SIPp.

Screenshots of every page go to ``artifacts/browser/`` at the top of the tree (git-ignored;
``SC_ASTERISK_ARTIFACTS`` moves it).
"""
from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select

from campaigns import numbers
from harness import STARTED, serve_process
from sc_asterisk.db import CallAttempt, CallRecord, Contact
from sc_asterisk.dialer.campaigns import get_campaign
from sc_asterisk.lab.sipp import CalleePlan, Simulator
from sc_asterisk.telecom.nodes import NodeSpec, add_node
from sc_asterisk.users.accounts import add_user

ARTIFACTS = Path(os.environ.get("SC_ASTERISK_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "artifacts")) / "browser"
PASSWORD = "a browser test's password"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1200,900")
SHORT_MS = 2000            # half the callees hang up during the message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_process(db_url: str, port: int, log) -> subprocess.Popen:
    # plain HTTP on loopback: the Secure cookie flag would keep the session from the browser
    proc = subprocess.Popen([sys.executable, "-m", "sc_asterisk", "--db", db_url, "web",
                             "--bind", f"127.0.0.1:{port}", "--insecure-cookies"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    STARTED.append(proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            return proc
        except httpx.TransportError:
            assert proc.poll() is None, "sc-asterisk web exited"
            assert time.monotonic() < deadline, "sc-asterisk web never listened"
            time.sleep(0.1)


def chromium(profile: Path, downloads: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


class Console:
    """The browser, with the waits and reads the test repeats."""

    def __init__(self, driver: webdriver.Chrome, base: str):
        self.driver, self.base = driver, base

    def go(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def until(self, predicate, timeout: float = 20.0):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
            lambda _d: predicate())

    def text(self, css: str) -> str:
        return self.find(css).text.strip()

    def counters(self) -> dict[str, int]:
        return {name: int(self.text(f'[data-field="{name}"]') or 0)
                for name in ("total", "done", "in_flight", "answered", "opted_out")}

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def db_figures(db, name: str) -> dict[str, int]:
    with db.session() as s:
        cid = get_campaign(s, name).id
        rows = s.execute(select(CallAttempt.id, CallAttempt.state, CallRecord.outcome)
                         .outerjoin(CallRecord).where(CallAttempt.campaign_id == cid)).all()
    return {"total": len(rows),
            "done": sum(r.state in ("finished", "failed", "unknown", "skipped", "cancelled")
                        for r in rows),
            "answered": sum(r.outcome == "answered" for r in rows),
            "queued": sum(r.state == "queued" for r in rows),
            "ids": {str(r.id): r.outcome for r in rows}}


def test_console_runs_a_campaign_in_chromium(lab, db, prompts, tmp_path, home):
    started = time.monotonic()
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    nums = numbers(83, 12)
    lab_ami = lab.node_info()
    with db.session() as s:
        add_user(s, "ada", PASSWORD, "admin")
        s.add(Contact(e164="+33199839999", time_zone="Europe/Paris", list_name="other",
                      legal_basis="consent"))
        # the lab's Asterisk as a node of the table, disabled (serve --lab drives it): the
        # nodes page asks it for its state
        add_node(s, home / "secrets", NodeSpec(
            "lab-node", ami_host="127.0.0.1", ami_port=lab_ami.ami_port,
            ami_secret=lab_ami.ami_secret, agi_host="127.0.0.1",
            sounds_dir=str(tmp_path / "sounds"), asterisk_sounds_dir="/tmp/sc-sounds",
            config_dir=str(tmp_path), enabled=False))
    contacts_file = tmp_path / "liste.csv"
    contacts_file.write_text("phone,first_name\n" + "".join(f"{n},P{i}\n" for i, n in
                                                             enumerate(nums)) + "12,Short\n")
    plan = CalleePlan()
    for i, n in enumerate(nums):
        plan.add(n, "answer", ring_ms=200, hold_ms=SHORT_MS if i % 2 else 20000)
    port = free_port()
    log = open(tmp_path / "processes.log", "wb")
    web_process(db.url, port, log)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = chromium(tmp_path / "chromium-profile", downloads)
    ui = Console(driver, f"http://127.0.0.1:{port}")
    samples: list[dict[str, int]] = []
    try:
        with Simulator(plan, port=lab.ports.callees, workdir=tmp_path / "sipp") as sim:
            serve_process(db.url, lab, log)
            # log in: an anonymous browser is sent to /login
            ui.go("/")
            ui.until(lambda: driver.current_url.endswith("/login"))
            ui.shot("1-login")
            ui.find('input[name="username"]').send_keys("ada")
            ui.find('input[name="password"]').send_keys(PASSWORD)
            ui.find('form.login button[type="submit"]').click()
            ui.until(lambda: driver.current_url.rstrip("/") == ui.base)
            ui.shot("2-campaigns-empty")

            # import the contacts: a progress bar, then the summary and the refused row
            ui.find('[data-nav="contacts"]').click()
            form = ui.find("[data-import]")
            form.find_element(By.NAME, "file").send_keys(str(contacts_file))
            form.find_element(By.NAME, "list").send_keys("web")
            Select(form.find_element(By.NAME, "legal_basis")).select_by_value("consent")
            form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
            ui.until(lambda: ui.text("[data-import-state]") == "complete")
            assert driver.execute_script(
                "var p = document.querySelector('[data-import-progress]');"
                "return p.value === p.max && p.max > 1;")
            assert ui.text('[data-import-count="created"]') == "12"
            assert ui.text('[data-import-count="rejected"]') == "1"
            ui.until(lambda: len(driver.find_elements(By.CSS_SELECTOR,
                                                      "[data-rejects-rows] tr")) == 1)
            rejected = ui.find("[data-rejects-rows] tr").text
            assert rejected.startswith("14 ") and "Short" in rejected
            ui.shot("3-contacts-import")

            # the nodes page: the lab's node asked now
            ui.find('[data-nav="telecom"]').click()
            ui.until(lambda: ui.text('[data-node-state="lab-node"] [data-state="ami"]') == "up")
            assert ui.text('[data-node-state="lab-node"] [data-state="channels"]').isdigit()
            ui.shot("4-nodes")
            ui.find('[data-nav="campaigns"]').click()
            ui.find("[data-new]").click()

            # upload the two prompts, then create the campaign with them
            ui.until(lambda: driver.current_url.endswith("/new"))
            for name in ("message", "notice"):
                form = ui.find("[data-upload]")
                form.find_element(By.NAME, "name").send_keys(f"w-{name}")
                form.find_element(By.NAME, "file").send_keys(str(prompts[name]))
                form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
                ui.until(lambda name=name: any(
                    o.get_attribute("value") == f"w-{name}"
                    for o in ui.find('select[name="message"]').find_elements(By.TAG_NAME,
                                                                              "option")))
            form = ui.find("[data-create]")
            form.find_element(By.NAME, "name").send_keys("webrun")
            Select(form.find_element(By.NAME, "message")).select_by_value("w-message")
            Select(form.find_element(By.NAME, "notice")).select_by_value("w-notice")
            Select(form.find_element(By.NAME, "compliance_profile")).select_by_value("basic")
            for field, value in (("cps", "3"), ("max_channels", "4")):
                form.find_element(By.NAME, field).clear()
                form.find_element(By.NAME, field).send_keys(value)
            form.find_element(By.NAME, "windows").send_keys("always")
            ui.shot("5-new-campaign")
            form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
            ui.until(lambda: driver.current_url.endswith("/campaigns/webrun"))

            # the audience: a live dry-run count as the filter is typed, then queue it
            ui.until(lambda: ui.text("[data-audience-count]") == "13")   # no filter: everyone
            ui.find('textarea[name="where"]').send_keys("list=web")
            ui.until(lambda: ui.text("[data-audience-count]") == "12")
            assert db_figures(db, "webrun")["total"] == 0                # a dry run queues nothing
            ui.find('[data-queue] button[type="submit"]').click()
            ui.until(lambda: ui.text("[data-queued]") == "12")
            assert db_figures(db, "webrun")["queued"] == 12
            ui.until(lambda: ui.counters()["total"] == 12)

            # start it: the live counters move while the callees answer
            ui.find('[data-action="start"]').click()

            def sample(condition):
                figures = ui.counters()
                samples.append(figures)
                return condition(figures)
            ui.until(lambda: sample(lambda f: f["done"] >= 1 and f["in_flight"] >= 1), 30)
            # calls/s while it dials: a number, from the live counts (two of them at least)
            ui.until(lambda: ui.text('[data-field="calls_per_s"]') not in ("", "\u2014"), 30)
            assert float(ui.text('[data-field="calls_per_s"]')) >= 0
            ui.shot("6-campaign-running")
            ui.find('[data-action="pause"]').click()
            ui.until(lambda: get_campaign_status(db) == "paused")
            ui.until(lambda: ui.text('[data-field="status"]') in ("paused", "suspendue"))
            # paused: the calls in progress end, nobody else is dialed
            ui.until(lambda: sample(lambda f: f["in_flight"] == 0), 30)
            paused = db_figures(db, "webrun")
            assert paused["queued"] > 0 and paused["done"] == ui.counters()["done"] < 12
            ui.find('[data-action="resume"]').click()
            ui.until(lambda: sample(lambda f: f["done"] == 12), 60)
            ui.until(lambda: ui.text('[data-field="status"]') in ("completed", "terminée"), 30)
            ui.shot("7-campaign-completed")
            dones = [f["done"] for f in samples]
            assert dones == sorted(dones) and len(set(dones)) >= 4, dones
            assert max(f["in_flight"] for f in samples) <= 4
            final = db_figures(db, "webrun")
            shown = ui.counters()
            assert (shown["total"], shown["done"], shown["answered"]) == (
                final["total"], final["done"], final["answered"]) == (12, 12, 12)
            truth = [t for t in sim.truth() if t.outcome == "answered"]
            assert len(truth) == 12                                      # SIPp's own count
            # the listen rate and the retention curve, live on the campaign's page
            live_rate = float(ui.text('[data-field="listen_rate"]'))
            ui.until(lambda: driver.execute_script(
                "var i = document.querySelector('img[data-retention]');"
                "return i !== null && i.complete && i.naturalWidth > 0;"))

            # the report: figures, the retention curve, the CDR export
            ui.find("[data-report-link]").click()
            ui.until(lambda: driver.current_url.endswith("/campaigns/webrun/report"))
            ui.until(lambda: driver.execute_script(
                "var i = document.querySelector('img.retention');"
                "return i.complete && i.naturalWidth > 0;"))
            assert int(ui.text('[data-figure="answered"]')) == 12
            assert int(ui.text('[data-figure="dialled"]')) == 12
            heard_full = int(ui.text('[data-figure="heard_full_message"]'))
            assert heard_full == 6                  # the callees who held on past the message
            heard_min = int(ui.text('[data-figure="heard_min"]'))
            assert live_rate == round(100 * heard_min / 12, 1)   # the live page = the report
            ui.shot("8-report")
            ui.find('[data-cdr="csv"]').click()
            target = downloads / "cdr.csv"
            ui.until(lambda: target.exists() and not list(downloads.glob("*.crdownload")))
            with open(target, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            assert {r["attempt_id"]: r["outcome"] for r in rows} == final["ids"]
            assert all(r["campaign"] == "webrun" for r in rows)
            assert "number" not in rows[0] and "number_pseudonym" in rows[0]
            assert not any(n.lstrip("+") in target.read_text() for n in nums)
    except BaseException:
        ui.shot("failed")                        # what the browser showed when it failed
        raise
    finally:
        driver.quit()
    print(f"browser test: {time.monotonic() - started:.1f} s; samples of done: "
          f"{[f['done'] for f in samples]}")


def get_campaign_status(db) -> str:
    with db.session() as s:
        return get_campaign(s, "webrun").status
