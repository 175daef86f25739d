# The two commands of the README, and the set-up they need. Everything runs in .venv at the root
# (Pulumi's convention, named in Pulumi.yaml), created from the pinned lock requirements.txt.
#
#   make plan [STACK=prod]   offline plan of a stack (default dev): what it would create, no cloud
#   make test                every test (the program's, then the policy pack's in its own venv)
#   make bench               benchmark figures: offline plan, Jenkins conversion, DagBag parse, patch lag
#   make patch-lag           the patch-lag simulation over the real EKS AMI release history
#   make docs                regenerate the configuration reference in docs/configuration.md from stacks/config
#   make checkov CHART=<dir> [STACK=prod]
#                            checkov on the Airflow chart directory rendered with our values and with
#                            its defaults: both failure rates (docs/airflow.md, "Security posture")
#   make lock                regenerate requirements.txt from requirements.in, and from it the
#                            Airflow image's images/airflow/requirements.txt
#
# The Airflow image (docs/airflow-image.md); needs docker with BuildKit, and to push the AWS CLI and
# the Pulumi CLI logged in to the stack's backend:
#
#   make image-build                          build the image of this checkout locally
#   make image [STACK=dev]                    build it and push it to the stack's ECR repository
#   make image-promote FROM=dev STACK=prod [TAG=<tag>]
#                                             copy an image (default: this checkout's tag) from the
#                                             ECR repository of one stack to another's

PYTHON ?= $(shell command -v python3.11 || command -v python3)
# Let Python cache the project's own bytecode (__pycache__, git-ignored) even where the environment
# turns that off: recompiling the program on every run costs the offline plan about 0.4 s.
unexport PYTHONDONTWRITEBYTECODE
VENV ?= .venv
STACK ?= dev
PY := $(VENV)/bin/python
PIP_VERSION := 26.3
# The policy pack (policy/) has its own venv: pulumi-policy pins other protobuf/grpcio versions.
POLICY_VENV ?= policy/.venv
POLICY_PY := $(abspath $(POLICY_VENV))/bin/python
# checkov and the Helm SDK (make checkov) have their own venv: checkov's pins conflict with ours.
CHECKOV_VENV ?= build/checkov-venv
CHECKOV_PY := $(abspath $(CHECKOV_VENV))/bin/python

.PHONY: plan test policy-test bench patch-lag docs checkov lock image-build image image-promote

$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 not found (set PYTHON=/path/to/python3.11)"; exit 2; }
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "error: Python 3.11+ needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "pip==$(PIP_VERSION)"
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.txt
	$(PY) -m pip check
	touch $@

$(POLICY_VENV)/.installed: policy/requirements.txt policy/requirements-test.txt
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 not found (set PYTHON=/path/to/python3.11)"; exit 2; }
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_PY) -m pip install --quiet --disable-pip-version-check "pip==$(PIP_VERSION)"
	$(POLICY_PY) -m pip install --quiet --disable-pip-version-check --no-deps -r policy/requirements-test.txt
	$(POLICY_PY) -m pip check
	touch $@

$(CHECKOV_VENV)/.installed: scripts/checkov/requirements.txt
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 not found (set PYTHON=/path/to/python3.11)"; exit 2; }
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_PY) -m pip install --quiet --disable-pip-version-check "pip==$(PIP_VERSION)"
	$(CHECKOV_PY) -m pip install --quiet --disable-pip-version-check --no-deps -r scripts/checkov/requirements.txt
	$(CHECKOV_PY) -m pip check
	touch $@

plan: $(VENV)/.installed
	$(PY) -m stacks plan $(STACK)

# A maintained IAM simulator (Node.js) that decides IAM conditions, which moto ignores; pinned by
# its package-lock.json (tests/infra/iam_simulation.py).
IAM_SIMULATOR := tests/infra/iam_simulator
$(IAM_SIMULATOR)/node_modules/.installed: $(IAM_SIMULATOR)/package.json $(IAM_SIMULATOR)/package-lock.json
	npm ci --prefix $(IAM_SIMULATOR) --no-audit --no-fund --loglevel=error
	touch $@

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: $(VENV)/.installed $(IAM_SIMULATOR)/node_modules/.installed
	$(PY) -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: no tests were collected"; exit 1; fi; [ $$status -eq 0 ] || exit $$status
	$(MAKE) --no-print-directory policy-test

# The policy tests read the stacks' offline plans, written here by the program's own venv.
policy-test: $(VENV)/.installed $(POLICY_VENV)/.installed
	mkdir -p build
	$(PY) -m stacks plan dev --json > build/plan-dev.json
	$(PY) -m stacks plan prod --json > build/plan-prod.json
	cd policy && $(POLICY_PY) -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: no policy tests were collected"; exit 1; fi; exit $$status

bench: $(VENV)/.installed
	$(PY) scripts/bench_plan.py
	$(PY) scripts/bench_migration.py
	$(PY) scripts/patch_lag.py

patch-lag: $(VENV)/.installed
	$(PY) scripts/patch_lag.py

checkov: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	@test -n "$(CHART)" || { echo "error: give the chart directory: make checkov CHART=<dir> (helm pull apache-airflow/airflow --version 1.22.0 --untar)"; exit 2; }
	$(PY) scripts/checkov_chart.py "$(CHART)" --stack $(if $(filter command line,$(origin STACK)),$(STACK),prod) --checkov-venv $(CHECKOV_VENV)

docs: $(VENV)/.installed
	$(PY) -m stacks.config.reference --write docs/configuration.md

lock:
	rm -rf /tmp/batch-platform-lock
	$(PYTHON) -m venv /tmp/batch-platform-lock
	/tmp/batch-platform-lock/bin/pip install --quiet "pip==$(PIP_VERSION)"
	/tmp/batch-platform-lock/bin/pip install --quiet -r requirements.in
	/tmp/batch-platform-lock/bin/pip check
	{ echo "# Generated by 'make lock' from requirements.in: every package pinned. Do not edit by hand."; \
	  /tmp/batch-platform-lock/bin/pip freeze --all --exclude pip; } > requirements.txt
	$(PYTHON) -m infra.airflow_image requirements

# --- The Airflow image ------------------------------------------------------------------------------
# The tag is the content tag of this checkout (infra/airflow_image.py); repositories refuse to
# overwrite a tag, so pushing a tag that is already there is skipped. The revision label says which
# commit the image was built from (-dirty: with uncommitted changes).

IMAGE_NAME := batch-platform-airflow
FROM ?=
TAG ?=

image-build: $(VENV)/.installed
	$(PY) -m infra.airflow_image requirements --check
	@set -eu; \
	tag=$$($(PY) -m infra.airflow_image tag); \
	revision=$$(git rev-parse HEAD)$$(test -z "$$(git status --porcelain)" || echo -dirty); \
	echo "building $(IMAGE_NAME):$$tag (revision $$revision)"; \
	DOCKER_BUILDKIT=1 docker build --pull --provenance=false --file images/airflow/Dockerfile \
	  $$($(PY) -m infra.airflow_image build-args) --build-arg SOURCE_REVISION=$$revision \
	  --tag $(IMAGE_NAME):$$tag .

image: $(VENV)/.installed
	@set -eu; \
	tag=$$($(PY) -m stacks image-tag $(STACK)); \
	repository=$$(pulumi stack output airflow_image_repository --stack $(STACK)); \
	registry=$${repository%%/*}; region=$$(echo "$$registry" | cut -d. -f4); \
	if aws ecr describe-images --region "$$region" --repository-name "$${repository#*/}" \
	     --image-ids imageTag="$$tag" >/dev/null 2>&1; then \
	  echo "$$repository:$$tag is already pushed"; exit 0; fi; \
	$(MAKE) --no-print-directory image-build; \
	aws ecr get-login-password --region "$$region" | docker login --username AWS --password-stdin "$$registry"; \
	docker tag $(IMAGE_NAME):$$tag "$$repository:$$tag"; \
	docker push "$$repository:$$tag"

image-promote: $(VENV)/.installed
	@test -n "$(FROM)" || { echo "error: FROM=<stack> is required: the stack whose image is copied to STACK=$(STACK)"; exit 2; }
	@set -eu; \
	tag=$${TAG:-$$($(PY) -m infra.airflow_image tag)}; \
	source=$$(pulumi stack output airflow_image_repository --stack $(FROM)); \
	target=$$(pulumi stack output airflow_image_repository --stack $(STACK)); \
	region=$$(echo "$${target%%/*}" | cut -d. -f4); \
	if aws ecr describe-images --region "$$region" --repository-name "$${target#*/}" \
	     --image-ids imageTag="$$tag" >/dev/null 2>&1; then \
	  echo "$$target:$$tag is already pushed"; exit 0; fi; \
	for registry in "$${source%%/*}" "$${target%%/*}"; do \
	  aws ecr get-login-password --region "$$(echo "$$registry" | cut -d. -f4)" \
	    | docker login --username AWS --password-stdin "$$registry"; done; \
	docker pull --platform linux/amd64 "$$source:$$tag"; \
	docker tag "$$source:$$tag" "$$target:$$tag"; \
	docker push "$$target:$$tag"
