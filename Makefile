# devicepass: the one entry point. `make` (or `make help`) lists the targets.
#
# Every tool is pinned in the repository and installed on first use into the
# ignored folder .tools/: the local AWS stand-ins (tools/requirements.txt and
# shared/devtools/standins), staticcheck (below) and the AWS CDK CLI (tools/cdk/).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

GO    ?= go
TOOLS := $(CURDIR)/.tools

STATICCHECK_VERSION := v0.8.2
STATICCHECK         := $(TOOLS)/bin/staticcheck

# The CDK CLI, from .tools/cdk; CDK_ARGS passes extra arguments, such as a
# stack name or --profile.
CDK      := CDK_DISABLE_CLI_TELEMETRY=true npx --prefix $(TOOLS)/cdk cdk
CDK_ARGS ?=

# Every folder under functions/ is one Lambda, built as a `bootstrap` binary
# for the provided.al2023 runtime.
FUNCTIONS := $(patsubst functions/%/,%,$(wildcard functions/*/))
GOBUILD   := CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w"

# Go files to check with gofmt, skipping what the go command skips too
# (dot folders, testdata) and generated or installed trees.
GO_FILES = find . -type d \( -name '.?*' -o -name testdata -o -name node_modules \
	-o -path ./build -o -path ./cdk.out \) -prune -o -type f -name '*.go' -print

.PHONY: help tools standins staticcheck cdk-cli run test lint build build-local \
	checkpassword bench synth diff deploy clean distclean FORCE

help: ## list the targets
	@echo "usage: make <target>"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

tools: standins staticcheck cdk-cli ## install the pinned tools into .tools/ (stand-ins, staticcheck, CDK CLI)

# Idempotent and locked: a no-op once done (see shared/devtools/standins.Install).
standins:
	$(GO) run ./shared/devtools/standins/cmd/standins install

staticcheck: $(TOOLS)/bin/.staticcheck-$(STATICCHECK_VERSION)
$(TOOLS)/bin/.staticcheck-$(STATICCHECK_VERSION):
	GOBIN=$(TOOLS)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	touch $@

cdk-cli: $(TOOLS)/cdk/.installed
$(TOOLS)/cdk/.installed: tools/cdk/package.json tools/cdk/package-lock.json
	mkdir -p $(TOOLS)/cdk
	cp tools/cdk/package.json tools/cdk/package-lock.json $(TOOLS)/cdk/
	npm ci --prefix $(TOOLS)/cdk --no-audit --no-fund
	touch $@

run: standins ## serve the API on http://127.0.0.1:8080 (PORT overrides) with local stand-ins
	$(GO) run ./cmd/devicepass-local

# Debian packages the tests use: a real Dovecot 2.3 for e2e/dovecot.
# tools/ensure-debs.sh installs what is missing when it can (root on Debian
# or Ubuntu) and otherwise fails naming the apt-get command.
TEST_DEBS := dovecot-imapd

test: tools lint ## install the tools (and Dovecot), lint, then run every test against the stand-ins
	tools/ensure-debs.sh $(TEST_DEBS)
	$(GO) test ./... -count=1 -timeout 20m

lint: staticcheck ## check formatting (gofmt), go vet and staticcheck
	@unformatted="$$($(GO_FILES) | xargs -r gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

build: $(FUNCTIONS:%=build/%/bootstrap) ## build every Lambda in functions/ for linux/arm64 into build/<name>/bootstrap

build-local: $(FUNCTIONS:%=build/local/%/bootstrap) ## build every Lambda for this machine into build/local/<name>/bootstrap

# The go command tracks its own dependencies, so these always run (FORCE)
# and let its cache decide what to rebuild. The shorter stem wins, so
# build/local/x/bootstrap takes the first rule.
build/local/%/bootstrap: FORCE
	$(GOBUILD) -o $@ ./functions/$*

build/%/bootstrap: FORCE
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $@ ./functions/$*

# For the mail host, static and stripped: Dovecot runs it as is, without a
# wrapper (contrib/dovecot/90-devicepass.conf). GOOS/GOARCH cross-compile.
checkpassword: ## build Dovecot's checkpassword program into build/checkpassword
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o build/checkpassword ./cmd/checkpassword

FORCE:

bench: standins ## run the benchmarks against the stand-ins (results in bench-results/)
	$(GO) run ./cmd/bench

synth: build cdk-cli ## synthesize the CDK app (cdk.json) into cdk.out/
	$(CDK) synth --quiet $(CDK_ARGS)

diff: build cdk-cli ## compare the synthesized stacks with the deployed ones
	$(CDK) diff $(CDK_ARGS)

deploy: build cdk-cli ## deploy every stack to the current AWS account and region
	$(CDK) deploy --all $(CDK_ARGS)

clean: ## remove build outputs (build/, cdk.out/); keeps the installed tools
	rm -rf build cdk.out

distclean: clean ## also remove the installed tools (.tools/) and local state (.local/)
	rm -rf .tools .local
