# reportd Makefile: the one entry point. `make help` lists the targets.

# Pinned versions of everything built or fetched for development and tests.
K8S_VERSION            ?= v1.37.2
ETCD_VERSION           ?= v3.7.3
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION  ?= v2.15.0
VERSITYGW_VERSION      ?= v1.8.0
MAILPIT_VERSION        ?= v1.33.1
HELM_VERSION           ?= v4.3.1

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

ROOT      := $(abspath .)
BIN       := $(ROOT)/bin
CACHE_DIR ?= $(or $(REPORTD_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/reportd)
# The control plane lives in a machine-level cache keyed by version, so a
# fresh clone finds it without rebuilding.
ENVTEST_ASSETS := $(CACHE_DIR)/k8s-$(K8S_VERSION)-etcd-$(ETCD_VERSION)

CONTROLLER_GEN := $(BIN)/controller-gen
GOLANGCI_LINT  := $(BIN)/golangci-lint
VERSITYGW      := $(BIN)/versitygw
MAILPIT        := $(BIN)/mailpit
HELM           := $(BIN)/helm

GO_TEST_FLAGS ?= -race -count=1 -timeout 25m

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the Go types and markers.
	$(CONTROLLER_GEN) rbac:roleName=reportd-manager crd:maxDescLen=1024 paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/chart-crds.sh config/crd/bases charts/reportd/templates/crds

.PHONY: chart-crds
chart-crds: ## Copy config/crd/bases into the Helm chart's templates/crds/ (behind crds.enabled and crds.keep).
	hack/chart-crds.sh config/crd/bases charts/reportd/templates/crds

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the Helm chart with its default and its full values.
	$(HELM) lint --strict charts/reportd
	$(HELM) lint --strict charts/reportd --values charts/reportd/ci/full-values.yaml

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')

.PHONY: verify-fmt
verify-fmt: ## Fail, naming the files, when gofmt would change any (make fmt fixes them).
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change these files (run make fmt):"; echo "$$unformatted"; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify-gen
verify-gen: manifests generate ## Fail when generated files differ from what is committed.
	@hack/verify-gen.sh

##@ Test

.PHONY: test
test: verify-gen verify-fmt vet envtest test-servers ## Run every test: unit, envtest, PostgreSQL, S3 and SMTP.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" REPORTD_BIN_DIR="$(BIN)" go test $(GO_TEST_FLAGS) ./...

.PHONY: envtest
envtest: ## Build kube-apiserver, kube-controller-manager and etcd from source into the machine cache (once).
	@hack/build-control-plane.sh $(K8S_VERSION) $(ETCD_VERSION) >/dev/null

.PHONY: test-servers
test-servers: $(VERSITYGW) $(MAILPIT) $(HELM) ## Build the S3 (versitygw) and SMTP (mailpit) servers and helm, which the tests run.

##@ Build

.PHONY: build
build: ## Build the reportd binary into bin/.
	go build -o $(BIN)/reportd .

.PHONY: bench
bench: envtest test-servers ## Benchmark `reportd generate` against psql over 5,000,000 orders, the facade against the API server and the manager under a burst of 1,000 reports (about 15 minutes on a quiet machine); JSON to $BENCH_OUT (default bin/bench.json).
	go build -o $(BIN)/reportd .
	rm -f "$${BENCH_OUT:-$(BIN)/bench.json}"
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" REPORTD_BIN_DIR="$(BIN)" BENCH_OUT="$${BENCH_OUT:-$(BIN)/bench.json}" go run ./hack/bench/facade
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" BENCH_OUT="$${BENCH_OUT:-$(BIN)/bench.json}" go run ./hack/bench/manager
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" REPORTD_BIN_DIR="$(BIN)" BENCH_OUT="$${BENCH_OUT:-$(BIN)/bench.json}" go run ./hack/bench/generator

##@ Run

.PHONY: dev
dev: envtest test-servers ## Run the whole stack on this machine (reportd dev); pass flags with ARGS="--persist --s3".
	@echo "[dev] building bin/reportd (a first build compiles the Kubernetes libraries for a few minutes; later ones take seconds)" >&2
	@go build -o $(BIN)/reportd . & build=$$!; start=$$SECONDS; next=15; \
	  while kill -0 $$build 2>/dev/null; do \
	    sleep 1; \
	    if (( SECONDS - start >= next )); then echo "[dev]   still building bin/reportd ($$((SECONDS - start))s)" >&2; next=$$((next + 15)); fi; \
	  done; \
	  wait $$build
	$(BIN)/reportd dev $(ARGS)

##@ Tools (built once per version into the machine cache, linked into bin/)

$(CONTROLLER_GEN):
	@hack/install-tool.sh $(BIN) controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen $(CONTROLLER_GEN_VERSION)
$(GOLANGCI_LINT):
	@hack/install-tool.sh $(BIN) golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint $(GOLANGCI_LINT_VERSION)
$(VERSITYGW):
	@hack/install-tool.sh $(BIN) versitygw github.com/versity/versitygw/cmd/versitygw $(VERSITYGW_VERSION)
$(MAILPIT):
	@hack/install-tool.sh $(BIN) mailpit github.com/axllent/mailpit $(MAILPIT_VERSION)
$(HELM):
	@hack/install-tool.sh $(BIN) helm helm.sh/helm/v4/cmd/helm $(HELM_VERSION) "-X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)"
