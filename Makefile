# RustyGPT front door. `make run` and `make test` work on a fresh Debian 12
# machine: both install what is missing first (scripts/deps.sh).
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
ARGS ?=
CMAKE_FLAGS ?=

.PHONY: all deps build run test asan fuzz bench coverage lint format clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j$(JOBS)

# Starts the server on 127.0.0.1:8080 (SQLite in ./data, models in ./models).
run: build
	@BUILD_DIR=$(BUILD_DIR) scripts/run.sh $(ARGS)

# Everything: unit + integration tests, the ASan/UBSan pass, bounded fuzzing.
test:
	@DEPS_EXTRA=web scripts/deps.sh
	@RG_REQUIRE_BROWSER=1 scripts/test.sh

# Only the sanitizer pass.
asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRG_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && ctest -j$(JOBS) --output-on-failure

# Only the fuzzers, for longer: make fuzz FUZZ_SECONDS=600
fuzz: deps
	@SKIP_ASAN=1 FUZZ_SECONDS=$${FUZZ_SECONDS:-120} scripts/test.sh

bench: build
	@scripts/bench.sh

coverage: deps
	@cmake -S . -B build-cov -DCMAKE_BUILD_TYPE=Debug -DRG_COVERAGE=ON >/dev/null
	@cmake --build build-cov -j$(JOBS)
	@cd build-cov && ctest -j$(JOBS) --output-on-failure || true
	@for m in common http engine api db auth index chat cli; do \
	  [ -d src/$$m ] || continue; \
	  printf '%-8s ' $$m; gcovr -r . --object-directory build-cov -f "src/$$m/" 2>/dev/null | grep -E '^TOTAL' || echo "-"; \
	done
	@gcovr -r . --object-directory build-cov -f 'src/' --html-details build-cov/coverage.html >/dev/null && \
	  echo "report: build-cov/coverage.html"

lint: build
	@scripts/lint.sh $(BUILD_DIR)

format:
	@find src tests tools bench -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf build build-asan build-fuzz build-cov build*.log
