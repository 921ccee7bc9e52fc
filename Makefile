# Thin wrapper over CMake. The two commands a user needs: `make demo` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= 2
PREFIX ?= /usr/local

.PHONY: all build setup demo test asan fuzz bench bench-kernels clean install uninstall

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@$(MAKE) --no-print-directory -C $(BUILD) -j$(JOBS)

setup:
	@scripts/setup.sh all

demo: setup
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh

# Every test against the optimised build, then the unit and bad-input tests once more under
# AddressSanitizer + UBSan (every finding fatal); warnings are errors in both builds.
test: setup
	@$(MAKE) --no-print-directory build CMAKE_FLAGS="-DTEQ_WERROR=ON"
	@$(MAKE) --no-print-directory build BUILD=$(ASAN_BUILD) CMAKE_FLAGS="-DTEQ_SANITIZE=ON -DTEQ_WERROR=ON -DCMAKE_BUILD_TYPE=Debug"
	@scripts/test.sh $(BUILD) --asan $(ASAN_BUILD)

asan: setup
	@$(MAKE) --no-print-directory build BUILD=$(ASAN_BUILD) CMAKE_FLAGS="-DTEQ_SANITIZE=ON -DTEQ_WERROR=ON -DCMAKE_BUILD_TYPE=Debug"
	@scripts/test.sh $(ASAN_BUILD) --quick

# libFuzzer targets (clang) for the ONNX, .npy and .teq readers, each run FUZZ_SECONDS seconds.
fuzz:
	@scripts/setup.sh fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DTEQ_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@$(MAKE) --no-print-directory -C $(FUZZ_BUILD) -j$(JOBS) fuzz_onnx fuzz_npy fuzz_teq
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# the five models against ONNX Runtime, then the kernels' table (GEMV and GEMM, FP32/INT8/teq, against the
# memory bandwidth), in one run
bench: setup
	@$(MAKE) --no-print-directory build
	@node bench/bench_models.mjs $(BUILD)/teq
	@echo
	@$(BUILD)/teq bench

# teq bench: kernels (GEMV/GEMM, FP32/INT8/teq) and models (makes the .teq files in out/bench-models first)
bench-kernels: setup
	@$(MAKE) --no-print-directory build
	@scripts/bench.sh --json out/bench.json

# Header, libteq.a, libteq.so, the CLI, teq.pc and the man page under PREFIX (the build is configured
# for that prefix first, because teq.pc records it). CMake lists what it copied in install_manifest.txt;
# uninstall removes exactly those files (scripts/uninstall.sh; folders stay, they are shared).
install:
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(abspath $(PREFIX)) $(CMAKE_FLAGS) >/dev/null
	@$(MAKE) --no-print-directory -C $(BUILD) -j$(JOBS)
	@cmake --install $(BUILD)

uninstall:
	@test -f $(BUILD)/install_manifest.txt || { echo "uninstall: no $(BUILD)/install_manifest.txt (nothing installed from $(BUILD))" >&2; exit 1; }
	@scripts/uninstall.sh $(BUILD)/install_manifest.txt $(abspath $(PREFIX))

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
