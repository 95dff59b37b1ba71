# voxfit top-level Makefile: the commands a person types.
#   make        build build/voxfit (installs missing dependencies first)
#   make run    install what is missing, build, and start the main job
#   make test   build and run the whole suite (CTest)
#   make bench  run the benchmarks and update docs/BENCHMARKS.md
#   make asan   build and run the suite under AddressSanitizer + UBSan
#   make fuzz   build the libFuzzer targets and run each for FUZZ_SECONDS
#   make valgrind  run the unit tests under valgrind
BUILD ?= build
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
CMAKE_FLAGS ?=

.PHONY: all deps configure run test bench asan fuzz valgrind clean distclean

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

run: all
	@scripts/run.sh

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: all
	@scripts/bench.sh

asan: deps
	@test -f $(BUILD)-asan/CMakeCache.txt || cmake -S . -B $(BUILD)-asan -G Ninja -DVF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) --timeout 900

fuzz: deps
	@test -f $(BUILD)-fuzz/CMakeCache.txt || CC=clang CXX=clang++ cmake -S . -B $(BUILD)-fuzz -G Ninja -DVF_FUZZ=ON -DVF_SANITIZE=ON
	cmake --build $(BUILD)-fuzz -j $(JOBS)
	@scripts/fuzz.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

valgrind: all
	@scripts/valgrind.sh $(BUILD)

clean:
	rm -rf $(BUILD)/CMakeFiles $(BUILD)/voxfit $(BUILD)-asan $(BUILD)-fuzz

distclean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
