# podtap's build, test and bench entry points. The container images call
# hack/build.sh too, so `make build` proves their build commands.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BINARIES := podtap-sidecar podtap-webhook podtap-receiver

.PHONY: build test demo bench clean generate
build: $(addprefix bin/,$(BINARIES))

bin/%: FORCE
	hack/build.sh $* $(VERSION) $@

test:
	bash hack/test.sh

demo: bin/podtap-demo
	bin/podtap-demo

# The bench: one table of replay, live, memory and overhead figures (see
# README); BENCHFLAGS=--quick for a short run, --json FILE to keep it.
bench:
	go run ./cmd/podtap-bench $(BENCHFLAGS)

# The copies of single definitions in other formats (README tables, chart
# templates); internal/gen's test fails when they are stale.
generate:
	go generate ./internal/gen

clean:
	rm -rf bin

FORCE:
