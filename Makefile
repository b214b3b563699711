# kpipe — one Makefile for the library, the programs, the tools and the tests.
#
#   make                       build libkpipe.a, bin/* and tools/*
#   make check                 build and run every test under prove (TAP)
#   make check SANITIZE=1      the same, built with ASan + UBSan
#   make check JOBS=N          N test scripts at once (default 4)
#   make install PREFIX=DIR    install programs and man pages
#   make demo                  the cloud-monitoring job on the shipped data
#   make bench                 benchmarks against peers (never a test)

PREFIX  ?= /usr/local
CC      ?= cc
OPT     ?= -O2 -g
# test scripts run at once under prove: they mostly wait on the mock
# broker (group joins, session timeouts), so more than the 2 cores
JOBS    ?= 4
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror $(OPT) -Icommon -D_GNU_SOURCE
PKGS     = rdkafka msgpack yajl sqlite3 libpq
CFLAGS  += $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lleveldb -ljq -lm -lpthread

ifeq ($(SANITIZE),1)
BUILD   ?= build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
endif

LIB_SRC  = $(wildcard common/*.c)
LIB_OBJ  = $(LIB_SRC:common/%.c=$(BUILD)/common/%.o)
LIB      = $(BUILD)/libkpipe.a
BIN_SRC  = $(wildcard bin/*.c)
BINS     = $(BIN_SRC:bin/%.c=$(BUILD)/bin/%)
TOOL_SRC = $(wildcard tools/*.c)
TOOLS    = $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)
UNIT_SRC = $(wildcard tests/unit/u-*.c)
UNITS    = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HDRS     = $(wildcard common/*.h) tests/unit/tap.h

all: $(LIB) $(BINS) $(TOOLS)

$(BUILD)/common/%.o: common/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/%: bin/%.c $(LIB) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tools/%: tools/%.c $(LIB) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

units: $(UNITS)

# Every test is a TAP producer: C unit tests are executables, end-to-end
# tests are shell scripts (tests/tNNNN-*.sh) that find the programs
# through KPIPE_BUILD.
check: all $(UNITS)
	KPIPE_BUILD=$(abspath $(BUILD)) prove -j$(JOBS) --timer $(UNITS) tests/t[0-9]*.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(BINS) $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/man5/*.5 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 man/man7/*.7 $(DESTDIR)$(PREFIX)/share/man/man7

lint-man:
	mandoc -Tlint -W warning man/man1/*.1 man/man5/*.5 man/man7/*.7

# The README's two commands: each installs its own dependencies first.
demo:
	scripts/install-deps
	$(MAKE) all
	scripts/cloud-monitoring

test:
	scripts/install-deps
	$(MAKE) check
	$(MAKE) check SANITIZE=1

bench: all
	scripts/bench

clean:
	rm -rf build build-san

.PHONY: all units check test install lint-man demo bench clean
