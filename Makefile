# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Sluice: `make` builds, `make deps` installs what building and testing
# need, `make test` runs every test, `make demo` shows it working.
# Quiet by default; `make V=1` prints every command.

.DELETE_ON_ERROR:
.SUFFIXES:

VERSION := 0.1.0
BUILD := build
PREFIX ?= /usr/local

CLANG ?= clang
CC ?= cc
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config
TRIPLET := $(shell $(CC) -print-multiarch 2>/dev/null || gcc -print-multiarch)

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' '$(1)' '$(2)'
endif

# Debian keeps asm/ under the multiarch directory; BPF needs it for uapi headers.
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -Wall -Werror \
	-Iinclude -Ibpf -I/usr/include/$(TRIPLET)

LIBS_PKGS := libbpf jansson libmicrohttpd hiredis
HARDENING := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers $(HARDENING) \
	-Iinclude -Iuser -I$(BUILD) -DSLUICE_VERSION='"$(VERSION)"' \
	$(shell $(PKG_CONFIG) --cflags $(LIBS_PKGS) 2>/dev/null)
override LDFLAGS += -pie -Wl,-z,relro,-z,now
LDLIBS := $(shell $(PKG_CONFIG) --libs $(LIBS_PKGS) 2>/dev/null) -lm

BPF_SRCS := bpf/sluice.bpf.c
USER_SRCS := $(filter-out user/main.c,$(wildcard user/*.c))
USER_OBJS := $(USER_SRCS:%.c=$(BUILD)/%.o)
SKEL := $(BUILD)/sluice.skel.h
SLUICE := $(BUILD)/sluice

TEST_CFLAGS := $(CFLAGS) -Itests $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
TEST_LIBS := $(LDLIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
PACKET_TESTS := $(patsubst tests/packet/%.c,$(BUILD)/tests/%,$(wildcard tests/packet/test_*.c))
TEST_BPF_OBJS := $(patsubst tests/packet/%.bpf.c,$(BUILD)/tests/%.bpf.o,$(wildcard tests/packet/*.bpf.c))
TEST_SKELS := $(TEST_BPF_OBJS:.bpf.o=.skel.h)
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(wildcard tests/tools/*.c))
BENCH_BPF_OBJS := $(patsubst tests/bench/%.bpf.c,$(BUILD)/tests/%.bpf.o,$(wildcard tests/bench/*.bpf.c))
BENCH_SKELS := $(BENCH_BPF_OBJS:.bpf.o=.skel.h)
BENCHES := $(patsubst tests/bench/%.c,$(BUILD)/tests/%,$(wildcard tests/bench/bench_*.c))

# Every Debian package that building, running, testing and benchmarking need.
DEPS := make gcc libc6-dev clang llvm pkg-config libbpf-dev bpftool libelf-dev \
	zlib1g-dev linux-libc-dev libjansson-dev libcmocka-dev iproute2 util-linux \
	procps jq nftables iptables ethtool gnuplot-nox libmicrohttpd-dev curl \
	libhiredis-dev redis-server

.PHONY: all test bench demo deps install clean
# Skeletons come from pattern rules: keep them, or every make rebuilds them.
.SECONDARY: $(SKEL) $(TEST_SKELS) $(TEST_BPF_OBJS) $(BENCH_SKELS) $(BENCH_BPF_OBJS)
all: $(SLUICE)

$(BUILD) $(BUILD)/user $(BUILD)/tests:
	$(Q)mkdir -p $@

$(BUILD)/sluice.bpf.o: bpf/sluice.bpf.c | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(BUILD)/user/%.o: user/%.c | $(SKEL) $(BUILD)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libsluice.a: $(USER_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(SLUICE): $(BUILD)/user/main.o $(BUILD)/libsluice.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Tests: unit tests (cmocka), packet tests (BPF_PROG_RUN), tools for end-to-end.
$(BUILD)/tests/%.bpf.o: tests/packet/%.bpf.c | $(BUILD)/tests
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/%.bpf.o: tests/bench/%.bpf.c | $(BUILD)/tests
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/%.skel.h: $(BUILD)/tests/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libsluice.a | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -MMD -MP $(LDFLAGS) $< $(BUILD)/libsluice.a $(TEST_LIBS) -o $@

$(BUILD)/tests/test_%: tests/packet/test_%.c $(BUILD)/libsluice.a $(SKEL) $(TEST_SKELS) | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -I$(BUILD)/tests -MMD -MP $(LDFLAGS) $< $(BUILD)/libsluice.a $(TEST_LIBS) -o $@

$(BUILD)/tests/bench_%: tests/bench/bench_%.c $(BUILD)/libsluice.a $(SKEL) $(BENCH_SKELS) | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests -I$(BUILD)/tests -MMD -MP $(LDFLAGS) $< $(BUILD)/libsluice.a $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/tools/%.c | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP $(LDFLAGS) $< -o $@ -lm

test-build: $(SLUICE) $(UNIT_TESTS) $(PACKET_TESTS) $(TEST_TOOLS) $(BENCHES)
.PHONY: test-build

# The whole suite; ends with "N passed, N failed". Needs root for BPF and netns.
# Each entry point checks the packages first, then builds in a fresh make,
# so flags from pkg-config are read after the packages are there.
test:
	$(Q)tests/deps.sh check $(DEPS)
	$(Q)$(MAKE) --no-print-directory test-build
	$(Q)tests/run

bench:
	$(Q)tests/deps.sh check $(DEPS)
	$(Q)$(MAKE) --no-print-directory test-build
	$(Q)tests/bench/run $(if $(QUICK),-q)

demo:
	$(Q)tests/deps.sh check $(DEPS)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/demo

deps:
	$(Q)tests/deps.sh install $(DEPS)

install: all
	install -D -m 0755 $(SLUICE) $(DESTDIR)$(PREFIX)/sbin/sluice
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|' contrib/sluice.service \
		>$(DESTDIR)$(PREFIX)/lib/systemd/system/sluice.service

clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD)

-include $(wildcard $(BUILD)/*.d $(BUILD)/user/*.d $(BUILD)/tests/*.d)
