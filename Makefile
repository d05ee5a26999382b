# The two commands of the quick start: `make run` and `make test`. Each installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
RASA    := $(BIN)/rasa
RASA_PORT   ?= 5005
ACTION_PORT ?= 5055
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# Rasa caches featurised training data; the default 1 GB is too small for eight locales, so
# unchanged data would be retrained every time.
export RASA_MAX_CACHE_SIZE := 5000

.PHONY: help install responses train validate test test-unit test-stories test-e2e nlu-report nlu-compare symptom-report migrate screening-report bench bench-whatsapp bench-portal portal run run-production shell actions clean

help:
	@echo "make run        install, train if needed, start the assistant (REST on :$(RASA_PORT))"
	@echo "make test       install, then every test: unit, data validation, train, conversation tests, end-to-end"
	@echo "make shell      talk to the bot in the terminal"
	@echo "make bench     our stack beside stock Rasa: turns/s, latency, memory, NLU accuracy (issue 6)"
	@echo "make train | validate | nlu-report | nlu-compare | symptom-report | migrate | screening-report | install | clean"

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@PY=$$(scripts/find-python.sh) || exit 1; \
	  [ -x $(BIN)/python ] || $$PY -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==24.2"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# data/responses.yml is generated from the per-locale catalogs in locales/.
responses: install
	$(BIN)/python -m telehealth.i18n

validate: responses
	$(RASA) data validate --fail-on-warnings

# Rasa retrains only when data, domain or config changed since the last model.
train: responses
	$(RASA) train --num-threads 2
	@ls -t models/*.tar.gz 2>/dev/null | tail -n +3 | xargs -r rm -f   # keep the two newest models

test: test-unit validate train test-stories test-e2e

test-unit: install
	$(BIN)/pytest -m "not e2e" -q

test-stories: train
	$(RASA) test core --e2e --stories tests/conversations --fail-on-prediction-errors --out results/core

test-e2e: train
	$(BIN)/pytest -m e2e -q

nlu-report: responses
	$(BIN)/python scripts/nlu_report.py --folds 5 --config config.yml

nlu-compare: responses
	$(BIN)/python scripts/nlu_report.py --folds 5 --config config.yml config-alternatives/diet.yml

symptom-report: install
	$(BIN)/python scripts/symptom_report.py --errors

# The application database (DATABASE_URL; default var/telehealth.db) at the newest migration.
migrate: install
	$(BIN)/python -m telehealth.db upgrade

# Completed symptom checks by locale and level.
screening-report: migrate
	$(BIN)/python -m telehealth.db report

# Our production stack beside stock Rasa (rasa init's config, REST channel), simulated patients
# in all locales; needs PostgreSQL, Redis and RabbitMQ (the production profile). Not in `make test`.
# Trains the stock model once (about 25 minutes on 2 cores). BENCH_ARGS: see bench/rasa_bench.py --help.
bench: train
	$(BIN)/python bench/rasa_bench.py $(BENCH_ARGS)

# WhatsApp channel latency (issue 4); needs `make run` running in another terminal. Not in `make test`.
bench-whatsapp: install
	$(BIN)/python bench/whatsapp_bench.py

# Matching against 10,000 doctors and the admin queue page with 10,000 open requests (issue 5).
bench-portal: install
	$(BIN)/python bench/portal_bench.py

# The portal alone (port $(PORTAL_PORT)); `make run` starts it with everything else.
portal: migrate
	$(BIN)/python -m telehealth.portal

actions: install
	$(RASA) run actions --actions actions --port $(ACTION_PORT)

SANDBOX_PORT ?= 8081
PORTAL_PORT  ?= 8000
export SANDBOX_PORT RASA_PORT PORTAL_PORT

# TELEHEALTH_PROFILE selects the services (telehealth/deploy.py): embedded (default: SQLite, no
# servers) or production (PostgreSQL tracker store, Redis lock store, RabbitMQ event broker).
run: train migrate
	@mkdir -p var
	@$(BIN)/python -m telehealth.deploy endpoints var/endpoints.yml
	@$(BIN)/python -m telehealth.sandbox.local > var/sandbox.args
	@echo "Starting the action server on :$(ACTION_PORT) and the WhatsApp sandbox on :$(SANDBOX_PORT) ..."
	@$(RASA) run actions --actions actions --port $(ACTION_PORT) > var/actions.log 2>&1 & echo $$! > var/actions.pid
	@$(BIN)/python -m telehealth.sandbox.standin $$(cat var/sandbox.args) > var/sandbox.log 2>&1 & echo $$! > var/sandbox.pid
	@# The portal prints a new administrator's password once, here on the terminal (never to a log).
	@PORTAL_PORT=$(PORTAL_PORT) $(BIN)/python -m telehealth.portal 2> var/portal.log & echo $$! > var/portal.pid
	@trap 'kill $$(cat var/actions.pid) $$(cat var/sandbox.pid) $$(cat var/portal.pid) 2>/dev/null' EXIT INT TERM; \
	  echo "Starting the assistant on :$(RASA_PORT). Talk to it:"; \
	  echo "  as on WhatsApp:       open http://localhost:$(SANDBOX_PORT) in a browser (phone-sized works)"; \
	  echo "  doctors' portal:      open http://localhost:$(PORTAL_PORT) (sign up as a volunteer; the admin verifies)"; \
	  echo "  in another terminal:  make shell"; \
	  echo "  over HTTP:            curl -s localhost:$(RASA_PORT)/webhooks/rest/webhook -d '{\"sender\":\"me\",\"message\":\"salam\"}'"; \
	  $(RASA) run --enable-api --port $(RASA_PORT) --cors "*" --credentials var/credentials.yml --endpoints var/endpoints.yml

# The production profile on this machine's PostgreSQL, Redis and RabbitMQ (override the URLs):
# WORKERS Rasa workers on ports RASA_PORT+1.., the webhook receiver on RASA_PORT routing each
# user to one worker (telehealth/receiver.py), the action server, the portal, the sandbox.
WORKERS ?= 2
# The Rasa workers and the action server run below the receiver, the database and the portal:
# on one machine NLU would otherwise take the CPU that acknowledging webhooks needs (ack p99
# 210-240 ms at 200/s with equal priority, 51-70 ms with the workers at 19; see the README).
WORKER_NICE ?= 19
run-production: export TELEHEALTH_PROFILE = production
run-production: export DATABASE_URL ?= postgresql+psycopg2://postgres@127.0.0.1:5432/test
run-production: export REDIS_URL ?= redis://127.0.0.1:6379/0
run-production: export RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672
run-production: train migrate
	@mkdir -p var; rm -f var/production.pids
	@$(BIN)/python -m telehealth.deploy endpoints var/endpoints.yml
	@WORKERS=$(WORKERS) $(BIN)/python -m telehealth.sandbox.local > var/sandbox.args
	@nice -n $(WORKER_NICE) $(RASA) run actions --actions actions --port $(ACTION_PORT) > var/actions.log 2>&1 & echo $$! >> var/production.pids
	@$(BIN)/python -m telehealth.sandbox.standin $$(cat var/sandbox.args) > var/sandbox.log 2>&1 & echo $$! >> var/production.pids
	@PORTAL_PORT=$(PORTAL_PORT) $(BIN)/python -m telehealth.portal 2> var/portal.log & echo $$! >> var/production.pids
	@urls=""; for i in $$(seq 0 $$(( $(WORKERS) - 1 ))); do port=$$(( $(RASA_PORT) + 1 + i )); \
	  nice -n $(WORKER_NICE) $(RASA) run --port $$port --credentials var/credentials-$$i.yml --endpoints var/endpoints.yml \
	    > var/worker-$$i.log 2>&1 & echo $$! >> var/production.pids; urls="$$urls,http://127.0.0.1:$$port"; done; \
	  echo "$${urls#,}" > var/workers.urls
	@trap 'kill $$(cat var/production.pids) 2>/dev/null' EXIT INT TERM; \
	  echo "$(WORKERS) Rasa workers (logs var/worker-*.log) behind the receiver on :$(RASA_PORT); sandbox :$(SANDBOX_PORT), portal :$(PORTAL_PORT)"; \
	  set -a; . var/receiver.env; set +a; \
	  $(BIN)/python -m telehealth.receiver --port $(RASA_PORT) --workers $$(cat var/workers.urls)

shell: train
	@$(RASA) run actions --actions actions --port $(ACTION_PORT) > var/actions.log 2>&1 & pid=$$!; \
	  trap "kill $$pid 2>/dev/null" EXIT INT TERM; \
	  $(RASA) shell --port $$(( $(RASA_PORT) + 1 ))

clean:
	rm -rf results models/*.tar.gz .rasa var/*.log
