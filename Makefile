# The project's entry points. Each target calls tests/lab/lab.sh, which does
# its own set-up (packages, venv, Docker engine, images) idempotently.
#   make lab       set up and converge the local lab (the main job)
#   make test      everything CI runs: lint, ansible-test sanity and units,
#                  the lab's own tests and the install test, every Molecule scenario
#   make lint      ansible-lint (production profile), yamllint, ruff, shellcheck
#   make sanity    ansible-test sanity (every test that can run here)
#   make lab-down  remove the lab hosts and their volumes, nothing else
#   make audit     audit the lab hosts for breakout paths (playbooks/audit.yml)
#   make bench     measure converge, re-run, availability and scaling (bench/)
# Settings: LAB_HOSTS="bookworm trixie", LAB_REGISTRY_PORT=5000,
#           MOLECULE_SCENARIOS="default" (see the README).
LAB := tests/lab/lab.sh

.PHONY: lab test lint sanity unit molecule lab-down images summary audit bench
lab:
	@$(LAB) up
test:
	@$(LAB) test
lint:
	@$(LAB) lint
sanity:
	@$(LAB) preflight deps sanity
unit:
	@$(LAB) preflight deps unit
molecule:
	@$(LAB) preflight deps engine images registry molecule
images:
	@$(LAB) preflight deps engine images
summary:
	@$(LAB) summary
lab-down:
	@$(LAB) down
audit:
	@$(LAB) audit
bench:
	@$(LAB) bench
