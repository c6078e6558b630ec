# Ampgate — one non-recursive Makefile. `make` builds the three binaries into build/;
# `make deps` installs what the build and the tests need; `make check` runs every test; `make bench`
# runs the benchmarks (tables on stdout, JSON in build/bench/).
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
LDLIBS_ALL   := $(shell pkg-config --libs $(PKGS)) -lpthread -lm

# Sources by layer. Every module in edge/, drivers/ and policies/ goes into one library that
# the daemon, the CLI, the simulator and the unit tests all link: no object is built twice
# with different meaning.
CORE_SRC := $(filter-out edge/main.c,$(wildcard edge/*.c)) $(wildcard drivers/*.c) $(wildcard policies/*.c)
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

-include $(shell find $(BUILD)/obj $(BUILD)/san -name '*.d' 2>/dev/null)

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

# Tests that check the solver against GLPK's LP optimum (tests/lib/maxmin-glpk.c) link GLPK;
# nothing else does.
GLPK_UNIT := $(BUILD)/unit/test_solver_prop
$(GLPK_UNIT): TEST_LIBS := -lglpk

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; (cd tests/unit && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ../../$$t); done

# ---- benchmarks: every tests/bench/bench_*.c, built -O2 without sanitizers; each prints a table
# and writes build/bench/<name>.json (bench_solver -> solver.json) ----
BENCH_BIN := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/bench_*.c))

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libampgate.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(WARN) -O2 -g -o $@ $< $(BUILD)/libampgate.a $(LDLIBS_ALL) $(BENCH_LIBS)

$(BUILD)/bench/bench_solver: BENCH_LIBS := -lglpk

# tests/bench/proxy.mjs drives the real daemon, the fleet simulator and the loopback CSMS
# (1,000 stations: latency through the edge, CPU, RSS, reconnect storm, restart): build/bench/proxy.json.
bench: $(BENCH_BIN) all
	@set -e; for b in $(BENCH_BIN); do echo "== $$b"; $$b $(BUILD)/bench/$$(basename $$b | sed 's/^bench_//').json; done
	@echo "== tests/bench/proxy.mjs"; node tests/bench/proxy.mjs $(BUILD)/bench/proxy.json

# ---- integration tests: the real daemon against real peers (Node's test runner, npm lockfile) ----
tests/node_modules/.stamp: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund
	@touch $@

integration: all tests/node_modules/.stamp
	cd tests && node --test --test-concurrency=1 integration/

check: unit integration

# ---- deps: every Debian package the build and the tests use (idempotent) ----
DEB_DEPS := build-essential pkg-config libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libmodbus-dev libmosquitto-dev \
            libsqlite3-dev libconfig-dev libjansson-dev libsystemd-dev libssl-dev libcmocka-dev \
            mosquitto mosquitto-clients sqlite3 systemd nodejs npm openssl libglpk-dev glpk-utils \
            python3-pymodbus python3-serial-asyncio socat mbpoll
deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEB_DEPS) \
	  || DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(filter-out nodejs npm,$(DEB_DEPS))
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "deps: node and npm are needed for the integration tests" >&2; exit 1; }

# ---- demo: the daemon on the demo configuration, state under build/demo ----
# The demo's meter and battery are `ampgate-sim modbus` on 127.0.0.1:15020, stopped with the demo.
demo: all
	@mkdir -p $(BUILD)/demo
	./$(BUILD)/ampgate-sim modbus --listen 127.0.0.1:15020 --quiet & sim=$$!; \
	trap 'kill $$sim' EXIT INT TERM; ./$(BUILD)/ampgated -c etc/demo.conf

# ---- install ----
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONFDIR)/ampgate \
	           $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0755 $(BUILD)/ampgated $(DESTDIR)$(PREFIX)/sbin/ampgated
	install -m 0755 $(BUILD)/ampgatectl $(BUILD)/ampgate-sim $(DESTDIR)$(PREFIX)/bin/
	install -m 0640 etc/ampgate.conf $(DESTDIR)$(SYSCONFDIR)/ampgate/ampgate.conf
	sed 's|/usr/sbin/ampgated|$(PREFIX)/sbin/ampgated|' systemd/ampgated.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/ampgated.service

clean:
	rm -rf $(BUILD)

# Keep objects make considers intermediate (the sanitizer builds).
.SECONDARY:

.PHONY: all unit integration check bench deps demo install clean
