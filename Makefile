# The suite's one entry point. `make demo` runs the main job; `make test`
# passes every test (installs missing Debian packages when run as root).

SHELL    := /bin/bash
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BINARIES := $(patsubst %/main.go,%,$(wildcard */main.go))
# Shipped binaries that live in another binary's folder (its cmd/), such as
# mackerel-plugin-accesslog-push in mackerel-service-accesslog/cmd/.
SUB_BINARIES := $(patsubst %/main.go,%,$(wildcard */cmd/mackerel-plugin-*/main.go))
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
DIST_NAME := mackerel-plugins
DIST_DIR ?= dist
FUZZTIME ?= 5s

.PHONY: all build tools deps test unit lint fuzz bench bench-rollout dist demo clean

all: build

build:
	@mkdir -p bin
	@for b in $(BINARIES) $(SUB_BINARIES); do \
	  echo "build bin/$${b##*/}"; \
	  CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/$${b##*/} ./$$b || exit 1; \
	done

# mackerel-agent, mkr and staticcheck, pinned in tools/go.mod.
tools: bin/tools/mackerel-agent
bin/tools/mackerel-agent: tools/go.mod tools/go.sum
	@mkdir -p bin/tools
	cd tools && $(GO) build -o ../bin/tools/ tool
	@touch $@

deps:
	@scripts/install-deps

lint: tools
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	@# Linux-only code sits behind build tags: vet the other platforms shipped too.
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	GOOS=darwin GOARCH=amd64 $(GO) vet ./...
	bin/tools/staticcheck ./...

unit:
	$(GO) test -count=1 -short ./...

test: deps tools lint
	$(GO) test -count=1 -timeout 40m ./...
	FUZZTIME=$(FUZZTIME) scripts/fuzz-short

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz-short

# Each binary's bench.sh (accesslog's builds axslog from ../shared/third_party
# and compares per-run cost and throughput), then the Go benchmarks.
bench: build
	@for d in $(BINARIES); do \
	  if [ -x $$d/bench.sh ]; then echo "== $$d"; $$d/bench.sh || exit 1; fi; \
	done
	$(GO) test -run='^$$' -bench=. -benchmem ./...

bench-rollout: build deps
	@if [ -x deploy-tool/bench-rollout.sh ]; then deploy-tool/bench-rollout.sh; else echo "deploy-tool has no rollout benchmark yet"; fi

dist:
	@rm -rf $(DIST_DIR) && mkdir -p $(DIST_DIR)
	@for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; name=$(DIST_NAME)_$${os}_$${arch}; d=$(DIST_DIR)/$$name; mkdir -p $$d; \
	  for b in $(BINARIES) $(SUB_BINARIES); do \
	    GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$d/$${b##*/} ./$$b || exit 1; \
	  done; \
	  cp README.md $$d/; \
	  (cd $(DIST_DIR) && zip -qr $$name.zip $$name) || exit 1; \
	  rm -rf $$d; echo "$(DIST_DIR)/$$name.zip"; \
	done

demo: build deps tools
	@scripts/demo

clean:
	rm -rf bin dist demo-out
