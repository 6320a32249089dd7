"""No secret and no clear phone number in any log line of a full run.

A small campaign runs through `serve -vv` (DEBUG, every library included) on the lab, around
it the CLI commands that handle numbers and secrets run with -vv too; then every log line is
searched for the AMI secret, the installation key, a trunk's SIP secret and each contact's
number in every spelling (E.164, without '+', national, spaced, national significant number).
The lab Asterisk's messages.log is searched as well, from where this test started.
Standard output is the commands' answer to the operator, not a log: it is not searched.
"""
import os
import signal
import subprocess
import sys

from campaigns import campaign_status, make_campaign, wait_until
from sc_asterisk.lab.sipp import CalleePlan, Simulator

import asyncio

BLOCK = "6500"   # +33 1 99 65 00 0k: ARCEP's fiction range
NATIONAL = [f"01 99 65 00 0{k}" for k in range(1, 6)]
BEHAVIOUR = {1: ("answer", 8000), 2: ("answer", 1500), 3: ("answer", 3000), 4: ("busy", 0),
             5: ("reject", 0)}


def spellings(national: str) -> list[str]:
    digits = national.replace(" ", "")
    nsn = digits[1:]
    return [f"+33{nsn}", f"33{nsn}", digits, national, nsn]


def run_cli(db_url, home, log, *args, stdin=None):
    """One CLI command at DEBUG; its stderr (where logging goes) is appended to *log*."""
    done = subprocess.run([sys.executable, "-m", "sc_asterisk", "-vv", "--db", db_url, *args],
                          input=stdin, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SC_ASTERISK_HOME": str(home)})
    with open(log, "a") as f:
        f.write(f"### {' '.join(args)} -> {done.returncode}\n{done.stderr}")
    return done


def hits(path, forbidden: dict[str, str]) -> list[str]:
    found = []
    with open(path, errors="replace") as f:
        for n, line in enumerate(f, 1):
            if line.startswith("### "):
                continue               # our own command separators
            for what, value in forbidden.items():
                if value and value in line:
                    found.append(f"{path.name}:{n}: {what}: {line.strip()[:200]}")
    return found


def test_full_run_logs_no_secret_and_no_clear_number(lab, db, prompts, tmp_path):
    home = tmp_path / "home"
    cli_log, ctl_log = tmp_path / "cli.log", tmp_path / "controller.log"
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("Nom;Téléphone;Date de naissance\n" + "".join(
        f"Personne {k};{n};01/02/1970\n" for k, n in enumerate(NATIONAL, 1)), encoding="utf-8")
    assert run_cli(db.url, home, cli_log, "contacts", "import", str(contacts), "--list", "L",
                   "--legal-basis", "consent").returncode == 0
    make_campaign(db, prompts, "logs", [], max_channels=5, cps=10, ring_timeout_s=5)
    queued = run_cli(db.url, home, cli_log, "campaign", "queue", "logs")
    assert queued.returncode == 0 and "5 attempts queued" in queued.stdout, queued.stdout

    asterisk_log_start = lab.log_file.stat().st_size if lab.log_file.exists() else 0
    plan = CalleePlan()
    for k, (behaviour, hold) in BEHAVIOUR.items():
        plan.add(f"+33199{BLOCK}0{k}", behaviour, ring_ms=100, hold_ms=hold)
    with Simulator(plan, lab.ports.callees, tmp_path) as sim, open(ctl_log, "wb") as out:
        controller = subprocess.Popen(
            [sys.executable, "-m", "sc_asterisk", "-vv", "--db", db.url, "serve",
             "--lab", f"{lab.name}:{(lab.ports.ami - 5038) // 10000}", "--drain-timeout", "20"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            env={**os.environ, "SC_ASTERISK_HOME": str(home)})
        assert run_cli(db.url, home, cli_log, "campaign", "start", "logs").returncode == 0
        asyncio.run(wait_until(lambda: campaign_status(db, "logs") == "completed", 60))
        controller.send_signal(signal.SIGTERM)
        assert controller.wait(timeout=30) == 0
        assert len(sim.invites()) == 5

    # The commands that handle numbers and secrets, after the run.
    secret_file = tmp_path / "sip-secret"
    secret_file.write_text("Trunk-S3cret-4-logs\n")
    ami_secret_file = tmp_path / "ami-secret"
    ami_secret_file.write_text(lab.node_info().ami_secret + "\n")
    for args in (["campaign", "status", "logs"],
                 ["contacts", "show", NATIONAL[0]],
                 ["suppress", "add", NATIONAL[1], "--reason", "asked by phone"],
                 ["suppress", "check", NATIONAL[1]],
                 ["subject-export", NATIONAL[2], "-o", str(tmp_path / "subject.json")],
                 ["erase", NATIONAL[3], "--yes"],
                 ["cdr", "export", "-o", str(tmp_path / "p.csv")],
                 ["cdr", "export", "--no-pseudonymise", "-o", str(tmp_path / "clear.csv")],
                 ["report", "logs", "--json"],
                 ["trunk", "add", "acme", "--host", "192.0.2.10", "--username", "acme",
                  "--register", "--secret-file", str(secret_file)],
                 ["trunk", "show", "acme"],
                 ["node", "add", "labnode", "--ami", f"127.0.0.1:{lab.ports.ami}",
                  "--ami-secret-file", str(ami_secret_file), "--agi",
                  f"127.0.0.1:{lab.ports.agi}", "--sounds-dir", str(tmp_path / "snd"),
                  "--asterisk-sounds-dir", lab.node_info().asterisk_sounds_dir,
                  "--config-dir", str(tmp_path / "etc"),
                  "--disable"],
                 ["node", "check", "labnode", "--no-agi"],
                 ["node", "show", "labnode"]):
        run_cli(db.url, home, cli_log, *args)
    # The clear-number export really holds the numbers: the search below is not vacuous.
    assert "+33199650001" in (tmp_path / "clear.csv").read_text()

    forbidden = {"AMI secret": lab.node_info().ami_secret,
                 "installation key": (home / "secrets" / "installation-key").read_text().strip(),
                 "SIP secret": "Trunk-S3cret-4-logs"}
    for k, national in enumerate(NATIONAL, 1):
        for i, spelled in enumerate(spellings(national)):
            forbidden[f"number {k} ({i})"] = spelled
    assert all(len(v) >= 9 for v in forbidden.values())
    asterisk_log = tmp_path / "asterisk-messages.log"
    with open(lab.log_file, "rb") as f:
        f.seek(asterisk_log_start)
        asterisk_log.write_bytes(f.read())

    found = hits(ctl_log, forbidden) + hits(cli_log, forbidden) + hits(asterisk_log, forbidden)
    assert " DEBUG " in ctl_log.read_text()     # DEBUG really was on
    assert not found, f"{len(found)} log lines leak:\n" + "\n".join(found[:25])
