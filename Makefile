# README's two commands: `make run` and `make test`. Both install what is missing first.
.PHONY: run test setup lint bench messages mutate

run:
	bash .ci/stack run

test:
	bash .ci/stack test

setup:
	bash .ci/stack setup

lint:
	.venv/bin/ruff check .
	.venv/bin/mypy

REGION_OUTAGE ?= 300
SIM_SEEDS ?= 1,2,3
SIM_UNITS ?= 60
SIM_CASES ?= 6
SIM_HORIZON ?= 12

# Speed goals live here, not in timed tests. Needs the services `make run`/`make test` set up.
bench:
	bash .ci/stack setup
	. var/stack.env && .venv/bin/python -m bench.fanout --runs 5
	. var/stack.env && .venv/bin/python -m bench.federation --requests 200 --notes 200
	# Ten real Beacons, three of them down for five minutes (about ten minutes in all).
	. var/stack.env && .venv/bin/python -m bench.region --outage $(REGION_OUTAGE)
	# Five years of a province: the first run builds it (about seven minutes), later ones reuse it.
	# SCALE_CASES=20000 (and SCALE_UNITS=..., see --help) makes it smaller.
	. var/stack.env && .venv/bin/python -m bench.scale
	. var/stack.env && .venv/bin/python -m bench.lists --runs 50
	# Field polling through gunicorn at 50, 100 and 200 req/s offered (about a minute and a half).
	. var/stack.env && .venv/bin/python -m bench.polling
	# Search effectiveness: the four dispatch policies over the same seeded worlds (about 40
	# minutes at this size). The issue's city day is SIM_UNITS=300 SIM_CASES=50 SIM_HORIZON=24.
	. var/stack.env && .venv/bin/python -m bench.simulate --seeds $(SIM_SEEDS) \
		--units $(SIM_UNITS) --cases $(SIM_CASES) --horizon $(SIM_HORIZON)

messages:
	.venv/bin/python manage.py makemessages -l zh_Hans --ignore '.venv/*' --ignore 'var/*'

# Mutation testing of the rule modules ([tool.mutmut] in pyproject.toml); not part of `make test`.
mutate:
	bash .ci/stack setup
	rm -rf mutants
	# Its own test database and Redis numbers, so it can run beside `make test`.
	. var/stack.env && DATABASE_URL=$${MUTATE_DATABASE_URL:-$${DATABASE_URL%/*}/beacon_mutate} \
	  TEST_CACHE_URL=$${MUTATE_CACHE_URL:-$${REDIS_URL%/*}/10} \
	  TEST_CELERY_BROKER_URL=$${MUTATE_BROKER_URL:-$${REDIS_URL%/*}/9} \
	  .venv/bin/mutmut run >var/mutmut.log 2>&1 || { tail -40 var/mutmut.log; exit 1; }
	. var/stack.env && .venv/bin/python .ci/mutate_report.py
