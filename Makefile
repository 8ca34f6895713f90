# devicepass: the one entry point. `make` (or `make help`) lists the targets.
#
# Every tool is pinned in the repository and installed on first use into the
# ignored folder .tools/: the local AWS stand-ins (tools/requirements.txt and
# shared/devtools/standins), staticcheck (below), the Node.js LTS that runs the
# CDK (tools/node/), the AWS CDK CLI (tools/cdk/) and cfn-lint
# (tools/cfnlint-requirements.txt).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

GO    ?= go
TOOLS := $(CURDIR)/.tools

STATICCHECK_VERSION := v0.8.2
STATICCHECK         := $(TOOLS)/bin/staticcheck

# A tool's stamp file is named after a checksum of the files it is installed
# from: a checkout reinstalls a tool when their content changed, not when they
# are merely newer on disk (as in a fresh clone or a second checkout sharing
# .tools/).
checksum = $(shell cat $(1) | cksum | cut -d' ' -f1)

# Installs into .tools/ take a lock where flock exists, since several
# checkouts may share the folder and run make at the same time.
locked = $(if $(shell command -v flock 2>/dev/null),flock $(1))

# Node.js for the CDK: the LTS pinned in tools/node/ (the npm package `node`,
# which brings the matching binary), so that neither the CDK CLI nor the CDK
# app's jsii runtime runs on whatever Node the machine has. npm itself may be
# any version that runs on the machine's Node.
NODE       := $(TOOLS)/node/node_modules/node/bin/node
NODE_STAMP := $(TOOLS)/node/.installed-$(call checksum,tools/node/package.json tools/node/package-lock.json)

# The CDK CLI from tools/cdk/, run by that Node; the app it starts (cdk.json:
# go run ./infra) gets the same Node for jsii through JSII_NODE. CDK_ARGS
# passes extra arguments, such as a stack name or --profile.
CDK_STAMP := $(TOOLS)/cdk-cli/.installed-$(call checksum,tools/cdk/package.json tools/cdk/package-lock.json)
CDK       := CDK_DISABLE_CLI_TELEMETRY=true JSII_NODE=$(NODE) $(NODE) $(TOOLS)/cdk-cli/node_modules/aws-cdk/bin/cdk
CDK_ARGS  ?=

# cfn-lint, AWS's CloudFormation linter, in a venv of its own: the infra/stack
# tests run it over every template they synthesize, and `make synth` over
# cdk.out/.
CFNLINT       := $(TOOLS)/cfnlint/venv/bin/cfn-lint
CFNLINT_STAMP := $(TOOLS)/cfnlint/.installed-$(call checksum,tools/cfnlint-requirements.txt)

# A stamp whose program is gone (a half-removed install) is stale: drop it
# so that the rule installs again.
stale-stamp = $(if $(wildcard $(1)),,$(shell rm -f $(2)))
$(call stale-stamp,$(NODE),$(NODE_STAMP))
$(call stale-stamp,$(TOOLS)/cdk-cli/node_modules/aws-cdk/bin/cdk,$(CDK_STAMP))
$(call stale-stamp,$(CFNLINT),$(CFNLINT_STAMP))

# Every folder under functions/ is one Lambda, built as a `bootstrap` binary
# for the provided.al2023 runtime.
FUNCTIONS := $(patsubst functions/%/,%,$(wildcard functions/*/))
GOBUILD   := CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w"

# Go files to check with gofmt, skipping what the go command skips too
# (dot folders, testdata) and generated or installed trees.
GO_FILES = find . -type d \( -name '.?*' -o -name testdata -o -name node_modules \
	-o -path ./build -o -path ./cdk.out \) -prune -o -type f -name '*.go' -print

.PHONY: help tools standins staticcheck node cdk-cli cfn-lint run test lint build build-local \
	checkpassword verifyd bench capacity synth diff deploy bootstrap clean distclean generate FORCE

help: ## list the targets
	@echo "usage: make <target>"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

tools: standins staticcheck node cdk-cli cfn-lint ## install the pinned tools into .tools/ (stand-ins, staticcheck, Node.js, CDK CLI, cfn-lint)

# Idempotent and locked: a no-op once done (see shared/devtools/standins.Install).
standins:
	$(GO) run ./shared/devtools/standins/cmd/standins install

staticcheck: $(TOOLS)/bin/.staticcheck-$(STATICCHECK_VERSION)
$(TOOLS)/bin/.staticcheck-$(STATICCHECK_VERSION):
	GOBIN=$(TOOLS)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	touch $@

# $(call npm-ci,<pinned folder>,<install folder>): `npm ci` of the pinned
# package.json and package-lock.json in the install folder, then the stamp
# ($@). It runs inside the folder because `npm ci --prefix` refuses a path
# that goes through a symlink.
define npm-ci
mkdir -p $(2)
$(call locked,$(2)/.lock) bash -euo pipefail -c '\
	if [ -e $@ ]; then exit 0; fi; \
	rm -f $(2)/.installed-*; \
	cp $(1)/package.json $(1)/package-lock.json $(2)/; \
	cd $(2) && npm ci --no-audit --no-fund; \
	touch $@'
endef

node: $(NODE_STAMP)
$(NODE_STAMP):
	$(call npm-ci,tools/node,$(TOOLS)/node)
	$(NODE) --version

cdk-cli: node $(CDK_STAMP)
$(CDK_STAMP):
	$(call npm-ci,tools/cdk,$(TOOLS)/cdk-cli)

# --no-deps and pip check: every package, transitive ones included, comes
# from the pins, and nothing the pins miss goes unnoticed.
cfn-lint: $(CFNLINT_STAMP)
$(CFNLINT_STAMP):
	mkdir -p $(TOOLS)/cfnlint
	$(call locked,$(TOOLS)/cfnlint/.lock) bash -euo pipefail -c '\
		if [ -e $@ ]; then exit 0; fi; \
		rm -rf $(TOOLS)/cfnlint/venv $(TOOLS)/cfnlint/.installed-*; \
		python3 -m venv $(TOOLS)/cfnlint/venv; \
		$(TOOLS)/cfnlint/venv/bin/pip install --quiet --disable-pip-version-check --no-deps \
			-r tools/cfnlint-requirements.txt; \
		$(TOOLS)/cfnlint/venv/bin/pip check --disable-pip-version-check; \
		touch $@'

run: standins ## serve the API on http://127.0.0.1:8080 (PORT overrides) with local stand-ins
	$(GO) run ./cmd/devicepass-local

# Debian packages the tests use: a real Dovecot 2.3 for e2e/dovecot, with
# its Lua passdb and LuaSocket for the verifyd path.
# tools/ensure-debs.sh installs what is missing when it can (root on Debian
# or Ubuntu) and otherwise fails naming the apt-get command.
TEST_DEBS := dovecot-imapd dovecot-auth-lua lua-socket

# JSII_NODE: the CDK stack tests synthesize through jsii on the pinned Node.
test: tools lint ## install the tools (and Dovecot), lint, then run every test against the stand-ins
	tools/ensure-debs.sh $(TEST_DEBS)
	JSII_NODE=$(NODE) $(GO) test ./... -count=1 -timeout 20m

generate: ## regenerate shared/apigw/api (types, route table) from docs/openapi.yaml
	$(GO) generate ./shared/apigw/api

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

# The resident verify helper for Dovecot's Lua passdb, likewise static and
# stripped (contrib/dovecot/90-devicepass-verifyd.conf, contrib/systemd/).
verifyd: ## build the resident verify helper for Dovecot into build/verifyd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o build/verifyd ./cmd/verifyd

FORCE:

bench: standins ## run the benchmarks against the stand-ins (results in bench-results/)
	$(GO) run ./cmd/bench

# Section 6 of the benchmark alone: it measures the calls it needs itself
# (seconds, not the whole benchmark). See docs/scale.md.
capacity: standins ## cost per month and quota use for 10k-10M devices, from calls measured now
	$(GO) run ./cmd/bench -only 6

synth: build cdk-cli cfn-lint ## synthesize the CDK app (cdk.json) into cdk.out/ and check it with cfn-lint
	$(CDK) synth --quiet $(CDK_ARGS)
	$(CFNLINT) -- cdk.out/*.template.json

diff: build cdk-cli ## compare the synthesized stacks with the deployed ones
	$(CDK) diff $(CDK_ARGS)

deploy: build cdk-cli ## deploy every stack to the current AWS account and region
	$(CDK) deploy --all $(CDK_ARGS)

bootstrap: cdk-cli ## once per account and region: CDK's bootstrap stack (CDK_ARGS=aws://ACCOUNT/REGION)
	$(CDK) bootstrap $(CDK_ARGS)

clean: ## remove build outputs (build/, cdk.out/); keeps the installed tools
	rm -rf build cdk.out

distclean: clean ## also remove the installed tools (.tools/) and local state (.local/)
	rm -rf .tools .local
