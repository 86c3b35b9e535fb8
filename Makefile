# Bulkhead. The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
# Scripts run on the Node the project pins (the `node` dev dependency), not the machine's.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
CLUSTER_DIR ?= $(CURDIR)/.cluster
NODES ?= 3

.PHONY: deps build lint format typecheck unit component e2e test demo control-plane kube-plane consul cluster-up cluster-down bench bench-scale faults clean crd

deps: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: deps
	tsc -p tsconfig.build.json

lint: deps
	eslint .
	prettier --check --log-level warn .

# Rewrites every file the formatter covers; `make lint` fails until this has been run.
format: deps
	prettier --write --log-level warn .

typecheck: deps
	tsc -p tsconfig.json --noEmit

unit: deps
	hack/run-tests.sh unit

# Component tests start only a Consul agent.
component: deps consul
	hack/run-tests.sh component

# Built from the Go module proxy into ~/.cache/bulkhead (BULKHEAD_CACHE) the first time; later
# runs take well under a second. Each target builds only what it uses.
# kube-plane: etcd, Kubernetes, KWOK and Helm (the demo renders the chart's webhook configurations).
kube-plane:
	hack/build-control-plane.sh
consul:
	hack/build-consul.sh
control-plane: kube-plane consul

e2e: deps control-plane
	hack/install-browser.sh >/dev/null
	hack/run-tests.sh e2e

# Everything CI runs; the last line is "N passed, N failed".
test: deps control-plane
	hack/install-browser.sh >/dev/null
	hack/run-tests.sh lint format typecheck unit component e2e

cluster-up: kube-plane
	hack/cluster-up.sh --dir $(CLUSTER_DIR) --nodes $(NODES)

cluster-down:
	hack/cluster-down.sh --dir $(CLUSTER_DIR)

demo: deps kube-plane
	hack/demo.sh

# Side by side in one run: Bulkhead, native RollingUpdate and grafana/rollout-operator (built for
# the benchmark only) at 100 and 1,000 pods. Minutes; never part of `make test`.
bench: deps kube-plane
	hack/bench.sh

# 50 rollouts × 200 pods rolled at once (heavy: 10,000 pods): bench/rollout/scale.sh.
bench-scale: deps kube-plane
	bench/rollout/scale.sh

# 3 zones × 100 pods, one rollout group, 10 % budget each (bench/rollout/group.sh): wall time
# against the ideal and the sampled check that never two zones are degraded at once.
.PHONY: bench-group
bench-group: deps kube-plane
	bench/rollout/group.sh

# The fault suite (bench/faults; minutes, not part of `make test`): hack/faults.sh.
faults: deps control-plane
	hack/faults.sh

clean:
	rm -rf dist

crd: deps
	tsx hack/gen-crd.ts
