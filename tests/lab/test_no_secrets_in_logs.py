"""No secret and no clear phone number in any log line of a full run; secrets and personal data
kept in private files.

A small campaign runs through `serve -vv` (DEBUG, every library included) on the lab; around
it the CLI commands that handle numbers and secrets run with -vv too. Then every log line is
searched for the AMI secret, the installation key, a trunk's SIP secret and each contact's
number in every spelling (E.164, without '+', national, spaced, national significant number).
The lab Asterisk's messages.log is searched as well, from where this run started.
Standard output is the commands' answer to the operator, not a log: it is not searched.
"""
import asyncio
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from campaigns import campaign_status, make_campaign, wait_until
from harness import STARTED
from sc_asterisk.db import Database
from sc_asterisk.lab.sipp import CalleePlan, Simulator

NATIONAL = [f"01 99 65 00 0{k}" for k in range(1, 6)]   # ARCEP's fiction range
BEHAVIOUR = {1: ("answer", 8000), 2: ("answer", 1500), 3: ("answer", 3000), 4: ("busy", 0),
             5: ("reject", 0)}
SIP_SECRET = "Trunk-S3cret-4-logs"


def spellings(national: str) -> list[str]:
    digits = national.replace(" ", "")
    nsn = digits[1:]
    return [f"+33{nsn}", f"33{nsn}", digits, national, nsn]


def run_cli(db_url, home, log, *args):
    """One CLI command at DEBUG; its stderr (where logging goes) is appended to *log*."""
    done = subprocess.run([sys.executable, "-m", "sc_asterisk", "-vv", "--db", db_url, *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SC_ASTERISK_HOME": str(home)})
    with open(log, "a") as f:
        f.write(f"### {' '.join(args)} -> {done.returncode}\n{done.stderr}")
    return done


def hits(path, forbidden: dict[str, str]) -> list[str]:
    found = []
    with open(path, errors="replace") as f:
        for n, line in enumerate(f, 1):
            if line.startswith("### "):
                continue               # our own separators (they hold the commands' arguments)
            for what, value in forbidden.items():
                if value and value in line:
                    found.append(f"{path.name}:{n}: {what}: {line.strip()[:200]}")
    return found


@pytest.fixture(scope="module")
def full_run(lab, tmp_path_factory):
    """Import, queue, a 5-call campaign through `serve -vv`, then the number and secret
    commands. Returns the paths of everything it wrote."""
    tmp = tmp_path_factory.mktemp("logs")
    home, cli_log, ctl_log = tmp / "home", tmp / "cli.log", tmp / "controller.log"
    db = Database(f"sqlite:///{tmp / 'run.db'}")
    assert run_cli(db.url, home, cli_log, "db", "upgrade").returncode == 0
    contacts = tmp / "contacts.csv"
    contacts.write_text("Nom;Téléphone;Date de naissance\n" + "".join(
        f"Personne {k};{n};01/02/1970\n" for k, n in enumerate(NATIONAL, 1))
        + "Rejet;08 92 12 34 56;01/02/1970\n", encoding="utf-8")
    assert run_cli(db.url, home, cli_log, "contacts", "import", str(contacts), "--list", "L",
                   "--legal-basis", "consent", "--rejects", str(tmp / "rejects.csv")
                   ).returncode == 0
    prompts = {}
    for name, seconds, freq in (("message", 4, 440), ("notice", 3, 660)):
        prompts[name] = tmp / f"{name}.wav"
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(prompts[name]),
                        "synth", str(seconds), "sine", str(freq)], check=True)
    make_campaign(db, prompts, "logs", [], max_channels=5, cps=10, ring_timeout_s=5)
    queued = run_cli(db.url, home, cli_log, "campaign", "queue", "logs")
    assert queued.returncode == 0 and "5 attempts queued" in queued.stdout, queued.stdout

    asterisk_log_start = lab.log_file.stat().st_size if lab.log_file.exists() else 0
    plan = CalleePlan()
    for k, (behaviour, hold) in BEHAVIOUR.items():
        plan.add(spellings(NATIONAL[k - 1])[0], behaviour, ring_ms=100, hold_ms=hold)
    with Simulator(plan, lab.ports.callees, tmp) as sim, open(ctl_log, "wb") as out:
        controller = subprocess.Popen(
            [sys.executable, "-m", "sc_asterisk", "-vv", "--db", db.url, "serve",
             "--lab", f"{lab.name}:{(lab.ports.ami - 5038) // 10000}", "--drain-timeout", "20"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            env={**os.environ, "SC_ASTERISK_HOME": str(home)})
        STARTED.append(controller)          # reaped after the test if it fails half-way
        assert run_cli(db.url, home, cli_log, "campaign", "start", "logs").returncode == 0
        asyncio.run(wait_until(lambda: campaign_status(db, "logs") == "completed", 60))
        controller.send_signal(signal.SIGTERM)
        assert controller.wait(timeout=30) == 0
        assert len(sim.invites()) == 5

    secret_file, ami_secret_file = tmp / "sip-secret", tmp / "ami-secret"
    secret_file.write_text(SIP_SECRET + "\n")
    ami_secret_file.write_text(lab.node_info().ami_secret + "\n")
    for args in (["campaign", "status", "logs"],
                 ["contacts", "show", NATIONAL[0]],
                 ["suppress", "add", NATIONAL[1], "--reason", "asked by phone"],
                 ["suppress", "check", NATIONAL[1]],
                 ["subject-export", NATIONAL[2], "-o", str(tmp / "subject.json")],
                 ["erase", NATIONAL[3], "--yes"],
                 ["cdr", "export", "-o", str(tmp / "pseudonymised.csv")],
                 ["cdr", "export", "--no-pseudonymise", "-o", str(tmp / "clear.csv")],
                 ["report", "logs", "--json", "--html", str(tmp / "report.html")],
                 ["trunk", "add", "acme", "--host", "192.0.2.10", "--username", "acme",
                  "--register", "--secret-file", str(secret_file)],
                 ["trunk", "show", "acme"],
                 ["node", "add", "labnode", "--ami", f"127.0.0.1:{lab.ports.ami}",
                  "--ami-secret-file", str(ami_secret_file), "--agi",
                  f"127.0.0.1:{lab.ports.agi}", "--sounds-dir", str(tmp / "snd"),
                  "--asterisk-sounds-dir", lab.node_info().asterisk_sounds_dir,
                  "--config-dir", str(tmp / "etc"), "--disable"],
                 ["node", "check", "labnode", "--no-agi"],
                 ["node", "show", "labnode"]):
        run_cli(db.url, home, cli_log, *args)
    asterisk_log = tmp / "asterisk-messages.log"
    with open(lab.log_file, "rb") as f:
        f.seek(asterisk_log_start)
        asterisk_log.write_bytes(f.read())
    return {"tmp": tmp, "home": home, "db": Path(db.url[len("sqlite:///"):]),
            "logs": [ctl_log, cli_log, asterisk_log], "ami_secret": lab.node_info().ami_secret}


def test_full_run_logs_no_secret_and_no_clear_number(full_run):
    tmp, home = full_run["tmp"], full_run["home"]
    # The clear-number export really holds the numbers: the search below is not vacuous.
    assert spellings(NATIONAL[0])[0] in (tmp / "clear.csv").read_text()
    forbidden = {"AMI secret": full_run["ami_secret"],
                 "installation key": (home / "secrets" / "installation-key").read_text().strip(),
                 "SIP secret": SIP_SECRET}
    for k, national in enumerate(NATIONAL, 1):
        for i, spelled in enumerate(spellings(national)):
            forbidden[f"number {k} ({i})"] = spelled
    assert all(len(v) >= 9 for v in forbidden.values())
    controller_log = full_run["logs"][0]
    assert " DEBUG " in controller_log.read_text()      # DEBUG really was on
    found = [hit for log in full_run["logs"] for hit in hits(log, forbidden)]
    assert not found, f"{len(found)} log lines leak:\n" + "\n".join(found[:25])


def test_secrets_and_personal_data_are_in_private_files(full_run):
    """Secrets 0600 in a 0700 directory; every file holding clear numbers readable by its
    owner only (the database, exports, the subject export, the reject file)."""
    tmp, home = full_run["tmp"], full_run["home"]
    secrets = home / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    held = sorted(p.name for p in secrets.iterdir())
    assert "installation-key" in held and any("acme" in n for n in held), held
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in secrets.iterdir()}
    assert set(modes.values()) == {"0o600"}, modes
    personal = [full_run["db"], tmp / "clear.csv", tmp / "pseudonymised.csv",
                tmp / "subject.json", tmp / "rejects.csv"]
    exposed = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in personal
               if p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)}
    assert not exposed, f"readable by other users: {exposed}"
