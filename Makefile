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
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

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
# One recipe makes all three (&:): with plain ":" make -j ran it once per binary, two
# builds racing in build/test (a sporadic "ld returned 1").
$(TEST_BINS) &: $(COMMON_SRC) $(PROTO_SRC) $(PRIVD_SRC) $(FRONTD_SRC) $(CLI_SRC) $(wildcard */*.h)
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

# Tests of code outside common/ and proto/ name their extra sources here.
UNIT_EXTRA_test_sendstream := frontd/sendstream.c frontd/diffcalc.c
UNIT_EXTRA_test_index_journal := privd/index_journal.c privd/aio_sync.c privd/state_store.c privd/registry.c privd/rollback_intent.c
UNIT_EXTRA_test_clijson := cli/jsonbuild.c cli/units.c cli/jsonout.c
.SECONDEXPANSION:
$(BUILD)/tests/%: tests/unit/%.c $(COMMON_SRC) $(PROTO_SRC) $$(UNIT_EXTRA_$$*)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g $(WARN) $(SAN) $(PKG_CFLAGS) -I. -DWSCKPT_VERSION='"$(VERSION)"' \
	    -DWSCKPT_LIBEXECDIR='"$(LIBEXECDIR)"' -o $@ $< $(COMMON_SRC) $(PROTO_SRC) $(UNIT_EXTRA_$*) \
	    $(PKG_LIBS) -lcmocka

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Integration tests need root (loop devices, mounts, useradd).
PYTEST ?= /usr/bin/python3 -m pytest
integration: all testbins
	$(PYTEST) -v tests/integration $(PYTEST_ARGS)

# make check: everything, including a short fuzz pass (CHECK_FUZZ_SECONDS per harness).
CHECK_FUZZ_SECONDS ?= 5
check: all unit integration
	$(MAKE) --no-print-directory bench BENCH_QUICK=1
	$(MAKE) --no-print-directory fuzz-regress
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)

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
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 docs/ws-ckpt.1 $(DESTDIR)$(MANDIR)/man1/ws-ckpt.1
	install -m 0644 docs/ws-ckpt.conf.5 $(DESTDIR)$(MANDIR)/man5/ws-ckpt.conf.5
	install -m 0644 docs/ws-ckptd.8 $(DESTDIR)$(MANDIR)/man8/ws-ckptd.8
	install -m 0644 completion/ws-ckpt.bash $(DESTDIR)$(BASHCOMPDIR)/ws-ckpt

deps:
	bash tools/deps.sh

clean:
	rm -rf $(BUILD)

# ---- rpm -------------------------------------------------------------------
# `make rpm`: a source tarball of the files git knows about (tracked, plus new files
# that are not ignored; a plain copy of the tree outside git), then the SRPM and the
# RPM of packaging/ws-ckpt.spec under $(BUILD)/rpm/{SRPMS,RPMS}. --nodeps because the
# build dependencies may come from another package manager (Debian: apt-get install rpm).
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
RPM_TOPDIR  := $(abspath $(BUILD))/rpm
RPM_SRCDIR  := ws-ckpt-$(VERSION)

.PHONY: rpm
rpm:
	@command -v rpmbuild >/dev/null 2>&1 || { echo "rpm: rpmbuild not found (Debian: apt-get install rpm; Fedora: dnf install rpm-build)" >&2; exit 1; }
	rm -rf $(RPM_TOPDIR)
	mkdir -p $(RPM_TOPDIR)/SOURCES
	@set -e; \
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -z --cached --others --exclude-standard; \
	else \
	    find . \( -path ./.git -o -path ./$(BUILD) \) -prune -o -type f -print0; \
	fi | xargs -0 -r sh -c 'for f do [ -f "$$f" ] && printf "%s\0" "$${f#./}"; done; exit 0' sh | \
	    tar --null -T - --sort=name --owner=0 --group=0 --numeric-owner \
	        --transform 's|^|$(RPM_SRCDIR)/|' -czf $(RPM_TOPDIR)/SOURCES/$(RPM_SRCDIR).tar.gz
	@echo "  TAR     $(RPM_TOPDIR)/SOURCES/$(RPM_SRCDIR).tar.gz"
	rpmbuild --nodeps -ba --define "_topdir $(RPM_TOPDIR)" --define "ws_version $(VERSION)" \
	    packaging/ws-ckpt.spec
	@ls -1 $(RPM_TOPDIR)/SRPMS/*.rpm $(RPM_TOPDIR)/RPMS/*/*.rpm

# ---- fuzzing (libFuzzer + ASan + UBSan, clang) -------------------------------
# make fuzz [FUZZ_SECONDS=N]: build each tests/fuzz/fuzz_<name>.c into $(BUILD)/fuzz/ and
# fuzz it for N seconds on a copy of its seeds in $(BUILD)/fuzz/corpus-<name> (new inputs
# never land in the source tree). Fails if any harness finds a crash, leak, undefined
# behaviour or broken invariant; the reproducer is in $(BUILD)/fuzz/artifacts/<name>/ and
# belongs in tests/fuzz/regressions/<name>/ once fixed.
# make fuzz-regress: run every harness once over tests/fuzz/corpus/<name>/ and
# tests/fuzz/regressions/<name>/ (no fuzzing; a few seconds).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# -Wno-error: a clang-only warning must not stop fuzzing of code gcc builds with -Werror.
FUZZ_CFLAGS  := -std=gnu11 -D_GNU_SOURCE -g -O1 $(WARN) -Wno-error $(FUZZ_SAN) $(PKG_CFLAGS) -I. \
                -DWSCKPT_VERSION='"$(VERSION)"' -DWSCKPT_LIBEXECDIR='"$(LIBEXECDIR)"'
# What the harnesses reach: common/, proto/, frontd's parsers, privd without main().
FUZZ_SRC     := $(COMMON_SRC) $(PROTO_SRC) $(wildcard frontd/request.c frontd/sendstream.c \
                frontd/diffcalc.c) $(filter-out privd/main.c,$(PRIVD_SRC))
FUZZ_OBJ     := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRC))
FUZZ_BINS    := $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_NAMES))
# Per-harness libFuzzer options: raw PS_REQUEST frames are 8 KiB and more.
FUZZ_OPTS_dispatch := -max_len=20000
FUZZ_OPTS_imsg     := -max_len=16384

.PHONY: fuzz fuzz-build fuzz-regress
.SECONDARY: $(FUZZ_OBJ)
fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS)

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)

fuzz: $(FUZZ_BINS)
	@failed=""; $(foreach n,$(FUZZ_NAMES),opts_$(n)='$(FUZZ_OPTS_$(n))';) \
	for n in $(FUZZ_NAMES); do \
	    corpus=$(FUZZ_DIR)/corpus-$$n; art=$(FUZZ_DIR)/artifacts/$$n; log=$(FUZZ_DIR)/fuzz_$$n.log; \
	    mkdir -p $$corpus $$art; \
	    cp -f tests/fuzz/corpus/$$n/* $$corpus/; \
	    if [ -d tests/fuzz/regressions/$$n ]; then \
	        find tests/fuzz/regressions/$$n -type f -exec cp -f {} $$corpus/ \; ; fi; \
	    eval "opts=\$$opts_$$n"; \
	    echo "== fuzz_$$n: $(FUZZ_SECONDS) s $$opts (log: $$log)"; \
	    if $(FUZZ_DIR)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=25 -print_final_stats=1 \
	        -artifact_prefix=$$art/ $$opts $$corpus >$$log 2>&1; then \
	        grep -E '^Done [0-9]+ runs' $$log; \
	    else \
	        tail -n 40 $$log; echo "fuzz_$$n: FAILED (reproducer in $$art/)"; failed="$$failed $$n"; \
	    fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failing harnesses:$$failed"; exit 1; fi

fuzz-regress: $(FUZZ_BINS)
	@set -e; for n in $(FUZZ_NAMES); do \
	    dirs=tests/fuzz/corpus/$$n; \
	    if [ -d tests/fuzz/regressions/$$n ]; then dirs="$$dirs tests/fuzz/regressions/$$n"; fi; \
	    files=$$(find $$dirs -type f | sort); log=$(FUZZ_DIR)/regress_$$n.log; \
	    mkdir -p $(FUZZ_DIR)/artifacts/$$n; \
	    echo "== fuzz_$$n: $$(echo "$$files" | wc -l) inputs"; \
	    $(FUZZ_DIR)/fuzz_$$n -artifact_prefix=$(FUZZ_DIR)/artifacts/$$n/ $$files >$$log 2>&1 || \
	        { tail -n 40 $$log; echo "fuzz_$$n: FAILED on a seed or regression input"; exit 1; }; \
	done

# ---- benchmark (issue 7) -----------------------------------------------------
# sudo make bench: the full benchmark (< 10 min); make bench BENCH_QUICK=1: smoke mode (< 60 s).
# Needs root: its own loop-backed btrfs + ws-ckptd in a /tmp/wsbench-* dir, always removed.
# Prints a table (PASS/MISS per target) and writes JSON to bench/results/. See bench/README.md.
BENCH_DIR  := $(BUILD)/bench
BENCH_BINS := $(BENCH_DIR)/floor $(BENCH_DIR)/sockclient $(BENCH_DIR)/spawnbench
BENCH_CFLAGS := -std=gnu11 -D_GNU_SOURCE -O2 -g $(WARN)

.PHONY: bench
$(BENCH_DIR)/floor: bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(shell pkg-config --libs libbtrfsutil 2>/dev/null || echo -lbtrfsutil)

$(BENCH_DIR)/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

bench: all $(BENCH_BINS)
	BENCH_QUICK=$(BENCH_QUICK) BENCH_PROFILE=$(BENCH_PROFILE) bash bench/run.sh
