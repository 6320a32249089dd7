"""The README's Docker section as the deployment test runs it: one shell command per step, run
from docker/ with the variables set at the top of the block. ``readme_block()`` is that block;
tests/deploy/test_readme_steps.py checks the README shows exactly it."""

# The variables the commands use, with the README's values (the test sets its own).
README_ENV = {
    "COMPOSE": "podman-compose -p sc-asterisk",   # or: docker compose
    "ENGINE": "podman",                           # or: docker
    "SC_BOOKWORM_BASE": "sc-asterisk-base/debian:bookworm",
    "SC_SID_BASE": "sc-asterisk-base/debian:sid",
    "SC_SIP_PORT": "5060",
    "SC_RTP_PORTS": "10000-10999",
    "CARRIER": "sip.carrier.example:5060",
}

SETUP = [
    "base/build-base-images --engine $ENGINE",
    "$COMPOSE build",
    "install -d -m 0700 secrets && (umask 077 && openssl rand -hex 24 > secrets/postgres_password)",
    'echo "postgresql://sc:$(cat secrets/postgres_password)@postgres/sc"'
    " | install -m 0400 -o 10001 -g 10001 /dev/stdin secrets/db_url",
    "install -d -o 10001 -g 10001 -m 0750 asterisk-etc sounds exports",
    "$ENGINE network create --subnet 172.28.0.0/24 sc-asterisk",
    "$COMPOSE up -d postgres asterisk",
    "$COMPOSE run --rm --no-deps -T controller sc-asterisk db upgrade",
    "openssl rand -hex 24 | $COMPOSE run --rm --no-deps -T controller sc-asterisk node add ast1"
    " --ami asterisk --agi controller --ami-secret-file -"
    " --sounds-dir /srv/sc-asterisk/sounds --asterisk-sounds-dir /var/lib/asterisk/sounds/sc"
    " --config-dir /srv/sc-asterisk/asterisk-etc"
    " --cel-file /srv/sc-asterisk/asterisk-log/sc-cel.json",
    "$COMPOSE run --rm --no-deps -T controller sc-asterisk asterisk render --node ast1 --full"
    " --controller 172.28.0.0/24 --rtp-ports $SC_RTP_PORTS --out /srv/sc-asterisk/asterisk-etc",
    "$COMPOSE up -d",
    "$COMPOSE exec -T controller sc-asterisk trunk add carrier --host $CARRIER --qualify 0"
    " --codecs alaw,ulaw --node ast1",
    "$COMPOSE exec -T controller sc-asterisk trunk apply",
    "$COMPOSE exec -T controller sc-asterisk node check ast1",
]

CAMPAIGN = [
    "$COMPOSE run --rm --no-deps -T controller sh -c 'cat > /tmp/in.wav"
    " && sc-asterisk audio import /tmp/in.wav --name message' < message.wav",
    "$COMPOSE run --rm --no-deps -T controller sh -c 'cat > /tmp/in.wav"
    " && sc-asterisk audio import /tmp/in.wav --name notice' < notice.wav",
    "$COMPOSE run --rm --no-deps -T controller sh -c 'cat > /tmp/in.csv"
    " && sc-asterisk contacts import /tmp/in.csv --list deploy --legal-basis consent' < contacts.csv",
    "$COMPOSE exec -T controller sc-asterisk campaign create deploy --message message"
    " --notice notice --profile basic --trunk carrier --no-retry --max-channels 5 --cps 5"
    " --window 'mon-sun 00:00-23:59'",
    "$COMPOSE exec -T controller sc-asterisk campaign queue deploy --where list=deploy --min-age 0",
    "$COMPOSE exec -T controller sc-asterisk campaign start deploy",
    "$COMPOSE exec -T controller sc-asterisk campaign status deploy",
    "$COMPOSE exec -T controller sc-asterisk cdr export --campaign deploy"
    " -o /srv/sc-asterisk/exports/deploy.csv",
]

RESTART = [
    "$COMPOSE down -t 150",
    "$COMPOSE up -d",
    "$COMPOSE exec -T controller sc-asterisk campaign status deploy",
]

STEPS = SETUP + CAMPAIGN + RESTART


# Comments the README shows above a step.
NOTES = {
    SETUP[0]: "base images from Debian roots (debootstrap), for hosts that reach no image "
              "registry;\nelsewhere skip this line and leave SC_BOOKWORM_BASE and SC_SID_BASE unset",
    SETUP[2]: "secrets are files: the database password, and the URL the controller (uid 10001) "
              "reads",
    SETUP[7]: "one-off controller containers: schema and installation key, node, configuration",
    SETUP[11]: "the running controller: trunk, checks",
    CAMPAIGN[0]: "a campaign: prompts and contacts come in on standard input; exports land in "
                 "./exports",
    RESTART[0]: "stop (live calls drain, up to 150 s) and start again: PostgreSQL's volume keeps "
                "everything",
}
WIDTH = 100


def readme_block() -> str:
    """The README's Docker commands: the variables, then every step under its note, long
    ones continued with a backslash before an option."""
    lines = ["cd docker"]
    for name, value in README_ENV.items():
        lines.append(f'export {name}="{value}"' if " " in value else f"export {name}={value}")
    for step in STEPS:
        if step in NOTES:
            lines.extend("# " + note for note in NOTES[step].split("\n"))
        lines.extend(_wrapped(step))
    return "\n".join(lines) + "\n"


def _wrapped(step: str) -> list[str]:
    out, rest = [], step
    while len(rest) > WIDTH:
        # before an option, past the command's start, never inside a quoted string
        cuts = [i for i in range(40, WIDTH - 2) if rest.startswith(" --", i)
                and rest.count("'", 0, i) % 2 == 0]
        if not cuts:
            break
        cut = cuts[-1]
        out.append(rest[:cut] + " \\")
        rest = "    " + rest[cut + 1:]
    return out + [rest]


def unwrapped(block: str) -> str:
    """*block* with its continued lines joined again."""
    return block.replace(" \\\n    ", " ")
