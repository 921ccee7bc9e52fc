# Thin wrapper over CMake. The two commands a user needs: `make demo` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= 2

.PHONY: all build setup demo test asan bench bench-kernels clean

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@$(MAKE) --no-print-directory -C $(BUILD) -j$(JOBS)

setup:
	@scripts/setup.sh all

demo: setup
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh

test: setup
	@$(MAKE) --no-print-directory build CMAKE_FLAGS="-DTEQ_WERROR=ON"
	@scripts/test.sh $(BUILD)

asan: setup
	@$(MAKE) --no-print-directory build BUILD=$(ASAN_BUILD) CMAKE_FLAGS="-DTEQ_SANITIZE=ON -DTEQ_WERROR=ON -DCMAKE_BUILD_TYPE=Debug"
	@scripts/test.sh $(ASAN_BUILD) --quick

bench: setup
	@$(MAKE) --no-print-directory build
	@node bench/bench_models.mjs $(BUILD)/teq

# teq bench: kernels (GEMV/GEMM, FP32/INT8/teq) and models (makes the .teq files in out/bench-models first)
bench-kernels: setup
	@$(MAKE) --no-print-directory build
	@scripts/bench.sh --json out/bench.json

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
