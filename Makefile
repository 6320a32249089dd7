# sc-asterisk: the two commands of a fresh machine are `make demo` and `make test` (as root).
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
APT_PACKAGES = debootstrap sip-tester ffmpeg espeak-ng sox sqlite3 postgresql procps chromium chromium-driver
PYTEST_ARGS ?=
# The deployment test's: rootful podman (runc, cgroupfs), Debian 12's podman-compose, name
# resolution between containers on a CNI network (dnsname), secrets made with openssl.
DEPLOY_PACKAGES = podman runc podman-compose golang-github-containernetworking-plugin-dnsname openssl

.PHONY: deps install lab demo test test-unit test-deploy deploy-deps bench bench-quick bench-scale \
	soak soak-crash clean

# System packages: installed only when one is missing (needs root and Debian's package mirror).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/sc-asterisk: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,postgres]'
	@touch $@

install: deps $(BIN)/sc-asterisk

# The Asterisk root (Debian sid packages), cached under /var/cache/sc-asterisk.
lab: install
	$(BIN)/sc-asterisk lab provision

demo: lab
	$(BIN)/sc-asterisk demo

test: lab
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest -q -m "not lab and not postgres"

# The deployment path (docker/, README "Docker"): images built, the compose stack up, a
# campaign through it, the systemd unit's install steps; ~4 min once the base roots are cached.
deploy-deps: deps
	@missing=""; for p in $(DEPLOY_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@test -e /etc/containers/containers.conf || install -m 0644 docker/base/containers.conf /etc/containers/containers.conf

test-deploy: install deploy-deps
	SC_ASTERISK_TEST_DEPLOY=1 $(BIN)/pytest -q -m deploy tests/deploy $(PYTEST_ARGS)

bench: lab
	$(BIN)/python -m bench

bench-quick: lab
	$(BIN)/python -m bench --quick

# The control plane's rehearsal (issue 15, goal 4): `serve` processes against load peers (fake
# Asterisk nodes, bench/loadpeer) on PostgreSQL ($$SC_ASTERISK_TEST_PG or --db); no lab needed.
# Sizes through BENCH_SCALE_ARGS, e.g. the full goal:
#   make bench-scale BENCH_SCALE_ARGS="--queued 10000 500000 5000000 --contacts 41000000 --calls 20000"
BENCH_SCALE_ARGS ?= --controllers 2 --queued 10000 50000 --calls 3000
bench-scale: install
	$(BIN)/python -m bench.loadpeer.rehearsal $(BENCH_SCALE_ARGS)

# Long runs through the lab, never part of `make test`: the 10,000-call soak and the
# random-kill soak (SC_ASTERISK_SOAK_KILLS, SC_ASTERISK_SOAK_SEED).
soak: lab
	SC_ASTERISK_SOAK=1 $(BIN)/pytest -q -s tests/soak/test_soak.py

soak-crash: lab
	SC_ASTERISK_SOAK=1 $(BIN)/pytest -q -s tests/soak/test_crash_soak.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
