# ws-ckpt — one entry point: all, check, demo, install, deps, unit, integration, clean.
PREFIX      ?= /usr
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
LIBEXECDIR  ?= $(PREFIX)/libexec
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
MANDIR      ?= $(PREFIX)/share/man
DESTDIR     ?=

CC      ?= cc
BUILD   ?= build
VERSION := 0.1.0

PKGS    := libevent libbtrfsutil libcjson libcap-ng libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

HARDEN_CFLAGS  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
CFLAGS_ALL  = -std=gnu11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN_CFLAGS) $(PKG_CFLAGS) -I. \
              -DWSCKPT_VERSION='"$(VERSION)"' \
              -DWSCKPT_LIBEXECDIR='"$(LIBEXECDIR)"' $(EXTRA_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(HARDEN_LDFLAGS) $(EXTRA_LDFLAGS) $(LDFLAGS)

COMMON_SRC := $(wildcard common/*.c)
PROTO_SRC  := $(wildcard proto/*.c)
PRIVD_SRC  := $(wildcard privd/*.c)
FRONTD_SRC := $(wildcard frontd/*.c)
CLI_SRC    := $(wildcard cli/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ    := $(call obj,$(COMMON_SRC) $(PROTO_SRC))

BINS := $(BUILD)/ws-ckpt $(BUILD)/ws-ckptd $(BUILD)/ws-ckpt-frontd

.PHONY: all check unit integration demo install deps clean testbins
all: $(BINS)

# Test builds: same sources with crash points compiled in (common/crashpoint.h), in
# build/test/. Only the crash-safety tests use them; release binaries never have hooks.
TEST_BINS := $(BUILD)/test/ws-ckpt $(BUILD)/test/ws-ckptd $(BUILD)/test/ws-ckpt-frontd
testbins: $(TEST_BINS)
$(TEST_BINS): $(COMMON_SRC) $(PROTO_SRC) $(PRIVD_SRC) $(FRONTD_SRC) $(CLI_SRC) $(wildcard */*.h)
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/test EXTRA_CFLAGS="$(EXTRA_CFLAGS) -DWSCKPT_TEST_HOOKS" all

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libwsckpt.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/ws-ckptd: $(call obj,$(PRIVD_SRC)) $(BUILD)/libwsckpt.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/ws-ckpt-frontd: $(call obj,$(FRONTD_SRC)) $(BUILD)/libwsckpt.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/ws-ckpt: $(call obj,$(CLI_SRC)) $(BUILD)/libwsckpt.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- tests -----------------------------------------------------------------
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
SAN       := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

$(BUILD)/tests/%: tests/unit/%.c $(COMMON_SRC) $(PROTO_SRC)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g $(WARN) $(SAN) $(PKG_CFLAGS) -I. -DWSCKPT_VERSION='"$(VERSION)"' \
	    -DWSCKPT_LIBEXECDIR='"$(LIBEXECDIR)"' -o $@ $< $(COMMON_SRC) $(PROTO_SRC) \
	    $(PKG_LIBS) -lcmocka

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Integration tests need root (loop devices, mounts, useradd).
PYTEST ?= /usr/bin/python3 -m pytest
integration: all testbins
	$(PYTEST) -v tests/integration $(PYTEST_ARGS)

check: all unit integration

demo:
	bash tests/demo.sh

# ---- install ---------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)/ws-ckpt \
	    $(DESTDIR)$(SYSCONFDIR)/ws-ckpt $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 $(BUILD)/ws-ckpt $(DESTDIR)$(BINDIR)/ws-ckpt
	install -m 0755 $(BUILD)/ws-ckptd $(DESTDIR)$(SBINDIR)/ws-ckptd
	install -m 0755 $(BUILD)/ws-ckpt-frontd $(DESTDIR)$(LIBEXECDIR)/ws-ckpt/ws-ckpt-frontd
	install -m 0644 docs/config.toml.sample $(DESTDIR)$(SYSCONFDIR)/ws-ckpt/config.toml.sample
	install -m 0644 systemd/ws-ckpt.service systemd/ws-ckpt.socket $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/ws-ckpt.sysusers $(DESTDIR)$(SYSUSERSDIR)/ws-ckpt.conf
	install -m 0644 systemd/ws-ckpt.tmpfiles $(DESTDIR)$(TMPFILESDIR)/ws-ckpt.conf

deps:
	bash tools/deps.sh

clean:
	rm -rf $(BUILD)
