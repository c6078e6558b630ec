# Ampgate — one non-recursive Makefile. `make` builds the three binaries into build/;
# `make deps` installs what the build and the tests need; `make check` runs every test; `make bench`
# runs the benchmarks (tables on stdout, JSON in build/bench/); `make check-long` the long partition suite and the soak.
VERSION    := $(shell cat VERSION)
PREFIX     ?= /usr
SYSCONFDIR ?= /etc
DESTDIR    ?=
BUILD      ?= build

PKGS    := libwebsockets libuv libmodbus libmosquitto sqlite3 libconfig jansson libsystemd openssl
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
CPPFLAGS_ALL := -D_GNU_SOURCE -DAG_VERSION='"$(VERSION)"' -I. $(shell pkg-config --cflags $(PKGS))
# GLPK: the `plan` policy and the replay's optimum solve their linear programme with it
# (policies/plan-lp.c), so everything that links the library links GLPK.
LDLIBS_ALL   := $(shell pkg-config --libs $(PKGS)) -lglpk -lpthread -lm

# Sources by layer. Every module in edge/, drivers/ and policies/ goes into one library that
# the daemon, the CLI, the simulator and the unit tests all link: no object is built twice
# with different meaning.
CORE_SRC := $(filter-out edge/main.c,$(wildcard edge/*.c edge/*/*.c)) $(wildcard drivers/*.c) $(wildcard policies/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
CTL_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/ctl/*.c))
SIM_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/sim/*.c))

BINS := $(BUILD)/ampgated $(BUILD)/ampgatectl $(BUILD)/ampgate-sim

all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(WARN) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libampgate.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ampgated: $(BUILD)/obj/edge/main.o $(BUILD)/libampgate.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/ampgatectl: $(CTL_OBJ) $(BUILD)/libampgate.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/ampgate-sim: $(SIM_OBJ) $(BUILD)/libampgate.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_ALL)

-include $(shell find $(BUILD)/obj $(BUILD)/san $(BUILD)/fuzz $(BUILD)/bench -name '*.d' 2>/dev/null)

# ---- unit tests: cmocka, under ASan/UBSan, each test may #include the module it tests ----
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)

SAN_OBJ  := $(CORE_SRC:%.c=$(BUILD)/san/%.o)

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(WARN) -O1 -g $(SAN) -MMD -MP -c $< -o $@

# A test that #includes a module's .c (to reach its statics) links every other module.
$(BUILD)/unit/%: tests/unit/%.c $(SAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(WARN) -O1 -g $(SAN) -o $@ $< \
	  $(filter-out $(patsubst %.c,$(BUILD)/san/%.o,$(shell grep -ho '^#include "[a-z_/-]*\.c"' $< | cut -d'"' -f2)),$(SAN_OBJ)) \
	  $(LDLIBS_ALL) $(TEST_LIBS) $(shell pkg-config --libs cmocka)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; (cd tests/unit && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ../../$$t); done

# ---- benchmarks: every tests/bench/bench_*.c, built -O2 without sanitizers; each prints a table
# and writes build/bench/<name>.json (bench_solver -> solver.json). Node benches
# (tests/bench/<name>.bench.js -> <name>.json) drive the real daemon with real peers ----
NODE_BENCH := $(wildcard tests/bench/*.bench.js)
BENCH_BIN := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/bench_*.c))

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libampgate.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(WARN) -O2 -g -MMD -MP -o $@ $< $(BUILD)/libampgate.a $(LDLIBS_ALL) $(BENCH_LIBS)

# Node benches (tests/bench/*.bench.js) drive the real daemon with real peers: overload to wire,
# partition replay, the proxy under 1,000 stations (latency, CPU, RSS, reconnect storm, restart).
bench: $(BENCH_BIN) all tests/node_modules/.stamp
	@set -e; for b in $(BENCH_BIN); do echo "== $$b"; $$b $(BUILD)/bench/$$(basename $$b | sed 's/^bench_//').json; done
	@set -e; for b in $(NODE_BENCH); do n=$$(basename $$b .bench.js); echo "== $$b"; \
	    (cd tests && node bench/$$n.bench.js ../$(BUILD)/bench/$$n.json); done

# ---- fuzzing: every tests/fuzz/fuzz_*.c is a libFuzzer target (clang), built with the library's
# sources under ASan/UBSan into build/fuzz/. Seeds and regression inputs are in
# tests/fuzz/corpus/<target>/ (read-only); what a run discovers goes to build/fuzz/corpus/<target>/,
# crashes to build/fuzz/crash-<target>-*. `make fuzz` runs each target FUZZ_RUNS times;
# `make fuzz-smoke` (part of `make check`) replays every kept input, then runs FUZZ_SMOKE_RUNS or
# FUZZ_SMOKE_SECONDS, whichever ends first (the config loader does a few hundred runs a second). ----
FUZZ_CC   ?= clang
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_OBJ  := $(CORE_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_RUNS ?= 1000000
FUZZ_SMOKE_RUNS ?= 20000
FUZZ_SMOKE_SECONDS ?= 6

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS_ALL) $(WARN) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

# As with unit tests, a target that #includes a module's .c links every other module.
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS_ALL) $(WARN) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -MMD -MP -o $@ $< \
	  $(filter-out $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(shell grep -ho '^#include "[a-z_/-]*\.c"' $< | cut -d'"' -f2)),$(FUZZ_OBJ)) \
	  $(LDLIBS_ALL)

fuzz-build: $(FUZZ_BIN)

# One target at a time: $(call fuzz_run,<binary>,<runs>[,<more options>]). The dictionary is used
# when present.
fuzz_run = t=$$(basename $(1)); mkdir -p $(BUILD)/fuzz/corpus/$$t; \
	dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	echo "== $$t ($(2) runs)"; \
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 $(1) -runs=$(2) $(3) -max_len=8192 -timeout=10 \
	  -rss_limit_mb=2048 -print_final_stats=1 $$dict -artifact_prefix=$(BUILD)/fuzz/crash-$$t- \
	  $(BUILD)/fuzz/corpus/$$t tests/fuzz/corpus/$$t 2>$(BUILD)/fuzz/$$t.log \
	  || { tail -n 60 $(BUILD)/fuzz/$$t.log; exit 1; }; \
	grep -a -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|Done )' $(BUILD)/fuzz/$$t.log

fuzz: $(FUZZ_BIN)
	@set -e; for b in $(FUZZ_BIN); do $(call fuzz_run,$$b,$(FUZZ_RUNS)); done

fuzz-smoke: $(FUZZ_BIN)
	@set -e; for b in $(FUZZ_BIN); do $(call fuzz_run,$$b,$(FUZZ_SMOKE_RUNS),-max_total_time=$(FUZZ_SMOKE_SECONDS)); done

# ---- integration tests: the real daemon against real peers (Node's test runner, npm lockfile) ----
tests/node_modules/.stamp: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund
	@touch $@

integration: all tests/node_modules/.stamp
	cd tests && node --test --test-concurrency=1 integration/

check: unit fuzz-smoke integration

# ---- check-asan: the three programs built from the sanitized objects above (build/asan/) and the
# whole integration suite run against them (not part of `make check`: it is several times slower).
# A report fails the run: ASan and UBSan abort, LeakSanitizer exits non-zero at the daemon's exit,
# and tests/lib/daemon.js looks for reports in what the programs print. Only one-time allocations
# inside libraries we do not own are suppressed (tests/asan/lsan.supp, each with its reason).
# A report makes Daemon.stop() throw, so a test's own cleanup after it may not run: where node
# has --test-force-exit (20.14+), a file ends when its tests do instead of waiting on its peers.
TEST_FORCE_EXIT := $(shell node --help 2>/dev/null | grep -q -- --test-force-exit && echo --test-force-exit)
ASAN_BINS := $(BUILD)/asan/ampgated $(BUILD)/asan/ampgatectl $(BUILD)/asan/ampgate-sim

$(BUILD)/asan/ampgated: $(BUILD)/san/edge/main.o $(SAN_OBJ)
$(BUILD)/asan/ampgatectl: $(CTL_OBJ:$(BUILD)/obj/%=$(BUILD)/san/%) $(SAN_OBJ)
$(BUILD)/asan/ampgate-sim: $(SIM_OBJ:$(BUILD)/obj/%=$(BUILD)/san/%) $(SAN_OBJ)
$(ASAN_BINS):
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(SAN) -o $@ $^ $(LDLIBS_ALL)

check-asan: $(ASAN_BINS) tests/node_modules/.stamp
	cd tests && AMPGATE_BIN_DIR=$(CURDIR)/$(BUILD)/asan AMPGATE_TIME_SCALE=$${AMPGATE_TIME_SCALE:-3} \
	  ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/asan/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  node --test --test-concurrency=1 $(TEST_FORCE_EXIT) integration/

# The longer partition suite: at least 50 kill -9 of ampgated during partition and replay.
check-long: all tests/node_modules/.stamp
	cd tests && AMPGATE_LONG=1 node --test --test-concurrency=1 integration/partition.test.js long/soak.test.js

# ---- deps: every Debian package the build and the tests use (idempotent) ----
DEB_DEPS := build-essential pkg-config libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libmodbus-dev libmosquitto-dev \
            libsqlite3-dev libconfig-dev libjansson-dev libsystemd-dev libssl-dev libcmocka-dev \
            mosquitto mosquitto-clients sqlite3 systemd nodejs npm openssl libglpk-dev glpk-utils \
            python3-pymodbus python3-serial-asyncio socat mbpoll chromium tcpdump \
            dpkg-dev debhelper help2man lintian debootstrap clang libclang-rt-14-dev
deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEB_DEPS) \
	  || DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(filter-out nodejs npm,$(DEB_DEPS))
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "deps: node and npm are needed for the integration tests" >&2; exit 1; }

# ---- demo: the daemon on the demo configuration, state under build/demo ----
# The demo depot (etc/demo.conf): a simulated SunSpec grid meter and battery over Modbus whose
# grid current includes the EVs' draw, forty simulated chargers with EVs, and the daemon between
# them. The 250 A connection binds: the log's "site:" lines show it shared. Ctrl-C stops all.
# DEMO_OCPP_PORT, DEMO_WEB_PORT and DEMO_MODBUS_PORT move it off the default ports.
DEMO_OCPP_PORT ?= 8887
DEMO_WEB_PORT ?= 8080
DEMO_MODBUS_PORT ?= 15020
demo: all
	@mkdir -p $(BUILD)/demo
	@echo '{"current_a":[0,0,0]}' > $(BUILD)/demo/draw.json
	@sed -e 's/127.0.0.1:8887/127.0.0.1:$(DEMO_OCPP_PORT)/; s/127.0.0.1:8080/127.0.0.1:$(DEMO_WEB_PORT)/' \
	     -e 's/127.0.0.1:15020/127.0.0.1:$(DEMO_MODBUS_PORT)/' etc/demo.conf > $(BUILD)/demo/demo.conf
	@./$(BUILD)/ampgate-sim modbus --listen 127.0.0.1:$(DEMO_MODBUS_PORT) --ev-draw $(BUILD)/demo/draw.json --quiet & m=$$!; \
	./$(BUILD)/ampgated -c $(BUILD)/demo/demo.conf & d=$$!; \
	trap 'kill $$m $$d $$f 2>/dev/null; wait' EXIT INT TERM; sleep 1; \
	./$(BUILD)/ampgate-sim chargers --url ws://127.0.0.1:$(DEMO_OCPP_PORT)/ocpp --count 40 --protocol mix \
	    --id-template 'DEPOT%02d' --password-template 'demo-password-%02d' --ev-at-start 0.9 \
	    --meter-interval-s 5 --reaction-delay-ms 1000 --summary-s 30 \
	    --draw-out $(BUILD)/demo/draw.json $(DEMO_ARGS) & f=$$!; wait $$f

# ---- install ----
# SYSTEMDUNITDIR: Debian 12 keeps units in /lib/systemd/system (the package passes it).
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONFDIR)/ampgate \
	           $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(PREFIX)/share/ampgate
	install -m 0755 $(BUILD)/ampgated $(DESTDIR)$(PREFIX)/sbin/ampgated
	install -m 0755 $(BUILD)/ampgatectl $(BUILD)/ampgate-sim $(DESTDIR)$(PREFIX)/bin/
	install -m 0640 etc/ampgate.conf $(DESTDIR)$(SYSCONFDIR)/ampgate/ampgate.conf
	install -d $(DESTDIR)$(PREFIX)/share/ampgate/web
	install -m 0644 web/*.html web/*.js web/*.css web/*.svg $(DESTDIR)$(PREFIX)/share/ampgate/web/
	sed 's|/usr/sbin/ampgated|$(PREFIX)/sbin/ampgated|' systemd/ampgated.service > $(DESTDIR)$(SYSTEMDUNITDIR)/ampgated.service

# ---- deb: build/deb/ampgate_<version>_<arch>.deb and ampgate-sim_..., with Debian's own tools
# (dpkg-buildpackage + debhelper, packaging/debian/) from a copy of the tree in build/deb/src.
# DEB_VERSION=X-Y builds that version instead of the changelog's (a local entry is added to the
# copy's changelog); otherwise the changelog's upstream version must be the one in VERSION.
DEB_VERSION ?=
deb:
	@set -e; chv=$$(dpkg-parsechangelog -l packaging/debian/changelog -S Version); \
	if [ -z "$(DEB_VERSION)" ] && [ "$${chv%-*}" != "$(VERSION)" ]; then \
	  echo "deb: VERSION is $(VERSION) but packaging/debian/changelog is at $$chv: add a changelog entry" >&2; exit 1; fi
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/src
	tar -c --exclude=./$(BUILD) --exclude=./.git --exclude=./tests/node_modules . | tar -x -C $(BUILD)/deb/src
	rm -rf $(BUILD)/deb/src/debian && cp -a packaging/debian $(BUILD)/deb/src/debian
	@if [ -n "$(DEB_VERSION)" ]; then \
	  { printf 'ampgate (%s) UNRELEASED; urgency=medium\n\n  * Local build.\n\n -- %s  %s\n\n' \
	      "$(DEB_VERSION)" "$$(dpkg-parsechangelog -l packaging/debian/changelog -S Maintainer)" "$$(date -R)"; \
	    cat packaging/debian/changelog; } > $(BUILD)/deb/src/debian/changelog; fi
	cd $(BUILD)/deb/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	  DEB_BUILD_OPTIONS="parallel=$$(nproc) $(DEB_BUILD_OPTIONS)" dpkg-buildpackage -us -uc -b
	@ls -1 $(BUILD)/deb/*.deb

clean:
	rm -rf $(BUILD)

# Keep objects make considers intermediate (the sanitizer builds).
.SECONDARY:

.PHONY: all unit integration check check-asan check-long bench deps demo install deb clean fuzz fuzz-build fuzz-smoke
