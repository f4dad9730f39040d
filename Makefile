# semprox build, test and benchmark entry points. `make test` is what CI runs.

GO        ?= go
GOFILES    = $(shell find . -name '*.go' -not -path './.git/*')
GENERATED  = kernels/sgemm_kernel_amd64.s kernels/sgemm_kernel_amd64.go kernels/transpose_amd64.s kernels/transpose_amd64.go kernels/stream_amd64.s kernels/stream_amd64.go kernels/bias_amd64.s kernels/bias_amd64.go kernels/vector_amd64.s kernels/vector_stubs_amd64.go
BENCHTIME ?= 1s

.PHONY: test no-binaries vet fmt-check unit purego race cgo-free generate generate-check generator-test beam bench results reproduce

test: no-binaries vet fmt-check unit purego race cgo-free generate-check generator-test beam
	@echo "make test: all checks passed"

# No tracked file may be a built executable (see .ci/no-binaries).
no-binaries:
	bash .ci/no-binaries

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -count=1 ./...

# Every package again with every assembly file left out of the build.
purego:
	$(GO) test -count=1 -tags purego ./...

# The parallel paths (worker pool, concurrent Sgemm calls, kNN, the data loader) under the race detector.
race:
	$(GO) test -count=1 -race ./kernels/... ./tensor/... ./dml/...

cgo-free:
	CGO_ENABLED=0 $(GO) build ./...

# Regenerate the avo assembly and its Go stubs (kernels/_asm is its own module).
generate:
	$(GO) generate ./kernels/...

# make generate must reproduce the committed assembly byte for byte.
generate-check:
	@tmp=$$(mktemp -d); for f in $(GENERATED); do cp $$f $$tmp/$$(basename $$f); done; \
	$(MAKE) --no-print-directory generate >/dev/null; \
	for f in $(GENERATED); do cmp $$f $$tmp/$$(basename $$f) || { echo "$$f differs from make generate's output"; rm -rf $$tmp; exit 1; }; done; \
	rm -rf $$tmp; echo "generate-check: generated files are up to date"

# The generators' own tests: the EVEX encodings of the bf16 instructions against objdump (skipped
# where binutils is missing) and encodings worked out by hand.
generator-test:
	cd kernels/_asm && $(GO) vet ./... && $(GO) test -count=1 ./...

# The Apache Beam module (beam/, its own go.mod): vet, the pipelines' tests on the in-process Prism
# runner, and a cgo-free build of its commands. The engine's go.mod must not gain Beam's dependencies.
beam:
	@if grep -q 'apache/beam' go.mod; then echo "go.mod names Apache Beam: only beam/go.mod may"; exit 1; fi
	cd beam && $(GO) vet ./... && $(GO) test -count=1 ./... && CGO_ENABLED=0 $(GO) build ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./bench/...

# The README's results table: every method on the embedded default, the same settings for each
# (about 25 minutes on 2 cores); the table goes to runs/compare/results.md.
METHODS ?= linear,bitfit,vpt,vptsp-m,vptsp-g,vptsp-g+bitfit,full
results:
	$(GO) run ./cmd/train -compare $(METHODS) -out runs/compare

# The paper's row for one dataset: its full preset on the paper's backbone (downloaded from the
# Hugging Face hub), the summary printing the paper's figures beside the run's. CUB is downloaded
# too; cars, sop and inshop need DATA=<their directory> (go run ./cmd/train -dataset cars -download
# says where to get them). SIZE=basic trains the ViT-B/16 preset. See docs/reproduction.md.
DATASET ?= cub
SIZE    ?= small
DATA    ?=
reproduce:
	$(GO) run ./cmd/train -dataset $(DATASET) -preset $(if $(filter cub,$(DATASET)),cub200,$(DATASET))_$(SIZE) \
		$(if $(DATA),-data $(DATA)) -download -out runs/reproduce-$(DATASET)-$(SIZE)
