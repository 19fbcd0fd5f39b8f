# README's two commands: `make run` and `make test`. Both install what is missing first.
.PHONY: run test setup lint messages

run:
	bash .ci/stack run

test:
	bash .ci/stack test

setup:
	bash .ci/stack setup

lint:
	.venv/bin/ruff check .

messages:
	.venv/bin/python manage.py makemessages -l zh_Hans --ignore '.venv/*' --ignore 'var/*'
