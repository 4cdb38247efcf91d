# a2dpsrc — Bluetooth A2DP source daemon.
#
# Cross builds follow the usual conventions: CC, AR, PKG_CONFIG (and
# PKG_CONFIG_LIBDIR, PKG_CONFIG_PATH, PKG_CONFIG_SYSROOT_DIR), CPPFLAGS,
# CFLAGS, LDFLAGS, DESTDIR, PREFIX; `make CROSS=aarch64-linux-gnu` picks the
# aarch64-linux-gnu-gcc toolchain and that triplet's pkg-config directory.
# WERROR= builds without -Werror (other compilers, other warnings);
# TEST_RUNNER prefixes each unit test (e.g. qemu-aarch64-static -L ...).
# `make cross-check ARCH=arm64|armhf` proves a cross build: tools/cross-check.sh.

VERSION    := 0.1.0
SHELL      := /bin/bash

CROSS      ?=
ifneq ($(CROSS),)
CC         := $(CROSS)-gcc
AR         := $(CROSS)-ar
PKG_CONFIG_LIBDIR ?= /usr/lib/$(CROSS)/pkgconfig:/usr/share/pkgconfig
export PKG_CONFIG_LIBDIR
endif
PKG_CONFIG ?= pkg-config
# $(shell) in GNU make < 4.4 sees neither exported variables nor those given
# on the command line: hand pkg-config's search variables over explicitly, or
# a cross build silently gets the build machine's -I paths.
PKG_CONFIG_ENV := $(foreach v,PKG_CONFIG_LIBDIR PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR,\
                    $(if $(filter file override command%,$(origin $(v))),$(v)='$($(v))'))
override PKG_CONFIG := $(strip $(PKG_CONFIG_ENV) $(PKG_CONFIG))

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
# systemd-sysusers reads /usr/local/lib/sysusers.d as well as /usr/lib/...
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
# dbus-daemon reads policies only from /usr/share/dbus-1/system.d and
# /etc/dbus-1/system.d, whatever PREFIX is: a policy under /usr/local would
# leave the daemon unable to own its name
DBUSPOLICYDIR  ?= /usr/share/dbus-1/system.d
DBUSSERVICEDIR ?= $(DATADIR)/dbus-1/system-services
DBUSIFACEDIR   ?= $(DATADIR)/dbus-1/interfaces
BASHCOMPDIR    ?= $(DATADIR)/bash-completion/completions
DESTDIR    ?=

BUILD      ?= build
PKGS       := dbus-1 alsa sbc libsystemd bluez

CFLAGS     ?= -O2 -g
WERROR     ?= -Werror
WARN       := -Wall -Wextra $(WERROR) -Wshadow -Wformat=2 -Wstrict-prototypes \
              -Wmissing-prototypes -Wno-unused-parameter
PKG_CFLAGS  = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS    = $(shell $(PKG_CONFIG) --libs dbus-1 alsa sbc libsystemd)
# _FILE_OFFSET_BITS=64: 32-bit boards (armhf) get the 64-bit readdir/stat,
# without which readdir fails with EOVERFLOW on 64-bit directory offsets.
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude $(CODEC_DEFS) $(WARN) $(PKG_CFLAGS) \
              -DA2DPSRC_VERSION='"$(VERSION)"' $(CPPFLAGS) $(CFLAGS) $(SAN)
ALL_LDFLAGS = $(LDFLAGS) $(SAN)

# Pure logic: no I/O, linked into the daemon, the unit tests and fuzzers.
CORE_SRCS  := src/sbc-config.c src/a2dp-sbc.c src/a2dp-sbc-xq.c src/a2dp-codecs.c src/rtp.c src/ring.c src/cmd-ack.c src/options.c src/mixer.c src/policy.c \
              src/bdaddr.c src/err-text.c src/media-key.c src/now-playing.c src/history.c src/codec-names.c src/doctor-stream.c \
              src/doctor.c src/aloop-status.c src/latm.c src/codec-refusal.c src/delay-line.c src/align.c src/airtime.c src/speaker-delay.c src/utf8.c
# Codecs, one file each behind include/a2dp-codec.h; their libraries are
# loaded on first use (codec-lib.c), so only their headers are needed to
# build. WITH_<CODEC>=no leaves a codec out (SBC and SBC-XQ are always in).
WITH_APTX  ?= yes
WITH_AAC   ?= yes
WITH_LDAC  ?= yes
CODEC_SRCS :=
CODEC_DEFS :=
ifeq ($(WITH_APTX),yes)
CODEC_DEFS += -DWITH_APTX
CODEC_SRCS += src/a2dp-aptx.c src/a2dp-aptx-hd.c
endif
ifeq ($(WITH_AAC),yes)
CODEC_DEFS += -DWITH_AAC
CODEC_SRCS += src/a2dp-aac.c src/aac-encoder.c
# headers only: libavcodec and libavutil are dlopened (aac-encoder.c)
PKGS       += libavcodec libavutil
endif
ifeq ($(WITH_LDAC),yes)
# libldacBT_enc and libldacBT_abr (both dlopened, the ABR one optional at
# run time); their headers live in their own include directory
LDAC_CFLAGS = $(shell $(PKG_CONFIG) --cflags ldacBT-enc ldacBT-abr)
CODEC_DEFS += -DWITH_LDAC $(LDAC_CFLAGS)
CODEC_SRCS += src/a2dp-ldac.c
endif
# the table (a2dp-codecs.c) names every codec built, so the codecs and
# their loader go wherever the core goes (daemon, unit tests, fuzzers)
CORE_SRCS  += $(CODEC_SRCS) src/codec-lib.c
# Everything else the daemon is made of.
DAEMON_SRCS := src/main.c src/log.c src/dbus-loop.c src/bluez.c \
               src/endpoint.c src/transport.c src/pcm.c src/stream.c src/stream-output.c src/stream-ctl.c src/sender.c \
               src/output.c src/output-acquire.c src/output-idle.c src/service-status.c src/output-latency.c src/capture-retry.c src/capture-health.c src/producer-watch.c \
               src/remote-sep.c src/codec-control.c src/dbus-util.c src/manager.c src/manager-props.c src/manager-outputs.c src/speaker.c src/speaker-reconnect.c src/speaker-refusal.c src/connect-calloff.c src/connect-busy.c src/lost-speaker.c src/connect-callers.c src/connect-join.c src/closed-stream.c src/multi-output.c src/multi-output-reconnect.c src/agent.c \
               src/discovery.c src/rtkit.c src/realtime.c src/player.c src/diagnose.c src/radio.c

# Saved settings and power supplies: plain file I/O, no D-Bus, no daemon
# state; linked into the daemon and their own unit tests.
UTIL_SRCS  := src/state.c src/state-file.c src/power.c src/rfkill.c
# The command-line client; ctl-args.c, ctl-format.c and ctl-doctor.c are its testable part.
CTL_SRCS   := src/a2dpsrcctl.c src/ctl-bus.c src/ctl-codecs.c src/ctl-args.c src/ctl-format.c src/ctl-outputs.c src/ctl-doctor.c

CORE_OBJS   := $(CORE_SRCS:%.c=$(BUILD)/%.o)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
UTIL_OBJS   := $(UTIL_SRCS:%.c=$(BUILD)/%.o)
CTL_OBJS    := $(CTL_SRCS:%.c=$(BUILD)/%.o)

# The main loop's files are built for size: the daemon's whole text is
# resident (the kernel maps 64 KiB around each page faulted in), and these
# run a few times a second at most. -Os here takes 31 KiB off the text and
# off the daemon's RSS (docs/performance.md, "Where the memory goes").
# The audio path (stream.c, sender.c, mixer.c, rtp.c, ring.c, the codecs)
# keeps CFLAGS. SIZE_OPT= builds everything with CFLAGS alone.
SIZE_OPT   ?= -Os
AUDIO_SRCS := src/stream.c src/stream-output.c src/sender.c src/mixer.c src/rtp.c src/ring.c src/cmd-ack.c src/sbc-config.c \
              src/delay-line.c src/align.c src/airtime.c src/latm.c src/codec-lib.c src/a2dp-codecs.c $(CODEC_SRCS) \
              src/a2dp-sbc.c src/a2dp-sbc-xq.c
SIZE_SRCS  := $(filter-out $(AUDIO_SRCS),$(DAEMON_SRCS) $(CORE_SRCS) $(UTIL_SRCS))
$(SIZE_SRCS:%.c=$(BUILD)/%.o): CFLAGS += $(SIZE_OPT)

UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test-*.c))
ifneq ($(WITH_LDAC),yes)
UNIT_TESTS  := $(filter-out $(BUILD)/tests/test-a2dp-ldac $(BUILD)/tests/test-sender-ldac,$(UNIT_TESTS))
endif
ifneq ($(WITH_AAC),yes)
UNIT_TESTS  := $(filter-out $(BUILD)/tests/test-a2dp-aac,$(UNIT_TESTS))
endif
ifneq ($(WITH_APTX),yes)
UNIT_TESTS  := $(filter-out $(BUILD)/tests/test-a2dp-aptx%,$(UNIT_TESTS))
endif

TEST_PLUGIN := $(BUILD)/tests/libasound_module_pcm_a2dpsrc_test.so
ANALYZER    := $(BUILD)/tests/speaker-analyze
PCM_CLIENT  := $(BUILD)/tests/pcm-client
GEN_REC     := $(BUILD)/tests/gen-recording
CLOCK_SHIFT := $(BUILD)/tests/libclock-shift.so

PYTHON     ?= /usr/bin/python3

# man pages: scdoc source in docs/man/, roff made at build time
SCDOC      ?= scdoc
MANPAGES   := $(patsubst docs/man/%.scd,$(BUILD)/man/%,$(wildcard docs/man/*.scd))
# MAN=no: build and install no man page (a target image without them, and
# no scdoc on the build machine)
MAN        ?= yes

.PHONY: all check check-unit check-unit-emulated check-tools check-integration check-asan check-valgrind \
        check-all check-vm fuzz soak lint demo install clean deps bench bench-quick bench-tools bench-deps bench-arm64 \
        test-tools lint man check-man deb check-deb check-install

all: $(BUILD)/a2dpsrcd $(BUILD)/a2dpsrcctl $(BUILD)/a2dpsrcd.service

# remade every time: `make && make install PREFIX=/usr` must not install a
# unit that names the first run's SBINDIR
$(BUILD)/a2dpsrcd.service: systemd/a2dpsrcd.service FORCE
	@mkdir -p $(dir $@)
	sed 's|@SBINDIR@|$(SBINDIR)|g' $< > $@

man: $(MANPAGES)

$(BUILD)/man/%: docs/man/%.scd
	@mkdir -p $(dir $@)
	$(SCDOC) < $< > $@.tmp && mv $@.tmp $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/a2dpsrcd: $(DAEMON_OBJS) $(CORE_OBJS) $(UTIL_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(shell $(PKG_CONFIG) --libs bluez) -lpthread -lm

$(BUILD)/a2dpsrcctl: $(CTL_OBJS) $(BUILD)/src/bdaddr.o $(BUILD)/src/err-text.o $(BUILD)/src/dbus-util.o \
                     $(BUILD)/src/utf8.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs dbus-1)

# ---- tests ---------------------------------------------------------------

$(BUILD)/tests/test-%: tests/unit/test-%.c $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell $(PKG_CONFIG) --cflags check) -o $@ $^ \
	    $(ALL_LDFLAGS) $(shell $(PKG_CONFIG) --libs check) $(PKG_LIBS) $(TEST_LIBS) -lm

# unit tests of objects outside CORE_OBJS name them here
$(BUILD)/tests/test-state: $(BUILD)/src/state.o $(BUILD)/src/state-file.o
$(BUILD)/tests/test-power: $(BUILD)/src/power.o
$(BUILD)/tests/test-rfkill: $(BUILD)/src/rfkill.o
$(BUILD)/tests/test-ctl-args: $(BUILD)/src/ctl-args.o $(BUILD)/src/ctl-format.o $(BUILD)/src/ctl-doctor.o \
                           $(BUILD)/src/dbus-util.o
$(BUILD)/tests/test-ctl-outputs: $(BUILD)/src/ctl-args.o $(BUILD)/src/ctl-format.o $(BUILD)/src/ctl-outputs.o \
                              $(BUILD)/src/dbus-util.o
$(BUILD)/tests/test-sender: $(BUILD)/src/sender.o
$(BUILD)/tests/test-sender-framing: $(BUILD)/src/sender.o
$(BUILD)/tests/test-sender-ldac: $(BUILD)/src/sender.o
# the engine itself with two outputs, fed by the test capture plugin
$(BUILD)/tests/test-engine-outputs: $(BUILD)/src/stream.o $(BUILD)/src/stream-output.o $(BUILD)/src/stream-ctl.o \
                                    $(BUILD)/src/sender.o $(BUILD)/src/pcm.o $(BUILD)/src/log.o | $(TEST_PLUGIN)
$(BUILD)/tests/test-engine-outputs: TEST_LIBS = -lpthread
# the engine's event ring, the thread idle
$(BUILD)/tests/test-engine-events: $(BUILD)/src/stream.o $(BUILD)/src/stream-output.o $(BUILD)/src/stream-ctl.o \
                                   $(BUILD)/src/sender.o $(BUILD)/src/pcm.o $(BUILD)/src/log.o
$(BUILD)/tests/test-engine-events: TEST_LIBS = -lpthread
# the encoders' round trips decode with libavcodec (aac_latm, aptx, aptx_hd)
AVCODEC_LIBS = $(shell $(PKG_CONFIG) --libs libavcodec libavutil)
$(BUILD)/tests/test-a2dp-aac: $(BUILD)/src/a2dp-aac.o $(BUILD)/src/aac-encoder.o $(BUILD)/src/codec-lib.o
$(BUILD)/tests/test-a2dp-aac: TEST_LIBS = $(AVCODEC_LIBS) -lpthread
$(BUILD)/tests/test-a2dp-aptx-encode: TEST_LIBS = $(AVCODEC_LIBS)

$(TEST_PLUGIN): tests/alsa/pcm_a2dpsrc_test.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -o $@ $< $(ALL_LDFLAGS) \
	    $(shell $(PKG_CONFIG) --libs alsa) -lm

# the speaker's decoders: libsbc for SBC, libavcodec for aptX, aptX HD and
# AAC (decoders we did not write); LDAC is checked, not decoded
$(ANALYZER): tests/tools/speaker-analyze.c $(wildcard tests/tools/analyze-*.c) tests/tools/speaker-analyze.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell $(PKG_CONFIG) --cflags libavcodec libavutil) -o $@ \
	    $(filter %.c,$^) $(ALL_LDFLAGS) \
	    $(shell $(PKG_CONFIG) --libs sbc libavcodec libavutil) -lm

$(PCM_CLIENT): tests/alsa/pcm-client.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS) \
	    $(shell $(PKG_CONFIG) --libs alsa) -lm

# test streams: libsbc for SBC, libavcodec's encoders for aptX, aptX HD and
# AAC, libldacBT_enc for LDAC
$(GEN_REC): tests/tools/gen-recording.c tests/tools/gen-codecs.c tests/tools/gen-recording.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell $(PKG_CONFIG) --cflags libavcodec libavutil ldacBT-enc) -o $@ \
	    $(filter %.c,$^) $(ALL_LDFLAGS) \
	    $(shell $(PKG_CONFIG) --libs sbc libavcodec libavutil ldacBT-enc) -lm

# a suspend's and a wall-clock step's effect on the clocks, LD_PRELOADed
$(CLOCK_SHIFT): tests/tools/clock-shift.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -o $@ $< $(ALL_LDFLAGS) -ldl

test-tools: $(TEST_PLUGIN) $(ANALYZER) $(PCM_CLIENT) $(GEN_REC) $(CLOCK_SHIFT)

# the test instruments themselves: the ALSA plugin and the analyzer
check-tools: test-tools
	BUILD=$(BUILD) PYTHON=$(PYTHON) tests/alsa/test_plugin.sh
	BUILD=$(BUILD) PYTHON=$(PYTHON) tests/tools/test_analyzer.sh

deps:
	@tools/install-deps.sh

check: deps
	$(MAKE) all $(UNIT_TESTS) test-tools
	$(MAKE) check-unit
	$(MAKE) check-tools
	$(MAKE) check-man
	$(MAKE) check-integration

# man --warnings and lexgrog accept every page, and each page documents every
# option of --help and every key of the config parser (tests/man/check_man.py)
check-man: all man
	$(PYTHON) tests/man/check_man.py $(BUILD)

check-unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $(TEST_RUNNER) $$t; done

# The unit tests under qemu-user (cross-check), less test-engine-outputs: it
# judges the real-time engine's timing from the kernel's arrival stamps,
# which qemu-user does not emulate (SO_TIMESTAMPNS: ENOPROTOOPT) and whose
# timing emulation cannot keep; it runs natively in check and check-asan.
EMULATED_SKIP := $(BUILD)/tests/test-engine-outputs
check-unit-emulated: $(UNIT_TESTS)
	@set -e; for t in $(filter-out $(EMULATED_SKIP),$(UNIT_TESTS)); do echo "== $$t"; $(TEST_RUNNER) $$t; done

# cross-build for an ARM board and run the unit tests under qemu-user
.PHONY: cross-check FORCE
cross-check:
	tools/cross-check.sh $(ARCH)
FORCE:

check-integration: all test-tools
	$(PYTHON) tests/integration/run.py $(TESTS)

# ---- reliability gates (issue: sanitizers, leaks, fuzzing) ---------------------

ASAN_BUILD := $(BUILD)/asan
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer

# The whole integration suite again against a daemon built with ASan+UBSan;
# any sanitizer report in a daemon log fails the test that produced it.
check-asan: deps
	$(MAKE) BUILD=$(ASAN_BUILD) SAN="$(SAN_FLAGS)" CFLAGS="-O1 -g" all test-tools
	$(MAKE) BUILD=$(ASAN_BUILD) SAN="$(SAN_FLAGS)" CFLAGS="-O1 -g" $(patsubst $(BUILD)/%,$(ASAN_BUILD)/%,$(UNIT_TESTS))
	@set -e; for t in $(patsubst $(BUILD)/%,$(ASAN_BUILD)/%,$(UNIT_TESTS)); do echo "== $$t"; \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $$t; done
	BUILD=$(ASAN_BUILD) A2DPSRC_SANITIZED=1 \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(PYTHON) tests/integration/run.py $(TESTS)

# One streaming scenario (connect, stream, link loss, reconnect, shutdown)
# under valgrind: no definite leak, no invalid access.
check-valgrind: all test-tools
	A2DPSRC_VALGRIND=1 $(PYTHON) tests/integration/run.py test_valgrind

# libFuzzer targets for everything a peer or a disk hands us (linked with the
# daemon's libraries: now-playing.c decodes D-Bus arguments); each runs
# FUZZ_SECONDS in CI. A crash fails the run and its input is kept under
# tests/fuzz/regressions/<target>/ to be replayed by every later run.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZERS      := sbc-config rtp state options dbus-args
ifeq ($(WITH_LDAC),yes)
FUZZERS      += ldac-config
endif
ifeq ($(WITH_AAC),yes)
FUZZERS      += aac-config
endif
ifeq ($(WITH_APTX),yes)
FUZZERS      += aptx-config
endif
FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -g -O1

$(FUZZ_BUILD)/fuzz-%: tests/fuzz/fuzz-%.c $(CORE_SRCS) $(UTIL_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -Iinclude $(CODEC_DEFS) $(PKG_CFLAGS) -DA2DPSRC_VERSION='"$(VERSION)"' \
	    $(FUZZ_FLAGS) -o $@ $^ $(PKG_LIBS) -lm

# the codec objects name their encoders: link them (libraries are dlopened)
$(FUZZ_BUILD)/fuzz-aac-config: src/a2dp-aac.c src/aac-encoder.c src/codec-lib.c

# the D-Bus decoders live in the daemon's files: link all but main()
$(FUZZ_BUILD)/fuzz-dbus-args: tests/fuzz/fuzz-dbus-args.c $(CORE_SRCS) $(UTIL_SRCS) \
                              $(filter-out src/main.c,$(DAEMON_SRCS))
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -Iinclude $(CODEC_DEFS) $(PKG_CFLAGS) -DA2DPSRC_VERSION='"$(VERSION)"' \
	    $(FUZZ_FLAGS) -o $@ $^ $(PKG_LIBS) $(shell $(PKG_CONFIG) --libs bluez) -lpthread -lm

$(FUZZ_BUILD)/fuzz-ldac-config: tests/fuzz/fuzz-ldac-config.c $(CORE_SRCS) $(UTIL_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS) $(CODEC_DEFS) \
	    -DA2DPSRC_VERSION='"$(VERSION)"' $(FUZZ_FLAGS) -o $@ $^ $(PKG_LIBS) -lm

fuzz: deps
	$(MAKE) $(FUZZERS:%=$(FUZZ_BUILD)/fuzz-%)
	@set -e; for f in $(FUZZERS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus-$$f tests/fuzz/regressions/$$f; \
	    echo "== fuzz-$$f: regressions"; \
	    $(FUZZ_BUILD)/fuzz-$$f -runs=0 tests/fuzz/regressions/$$f tests/fuzz/corpus/$$f >/dev/null 2>&1 || \
	        { $(FUZZ_BUILD)/fuzz-$$f -runs=0 tests/fuzz/regressions/$$f tests/fuzz/corpus/$$f; exit 1; }; \
	    echo "== fuzz-$$f: $(FUZZ_SECONDS) s"; \
	    $(FUZZ_BUILD)/fuzz-$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=tests/fuzz/regressions/$$f/ $(FUZZ_BUILD)/corpus-$$f tests/fuzz/corpus/$$f \
	        2>&1 | grep -E "^stat::number_of_executed_units|^stat::peak_rss|ERROR|SUMMARY|==[0-9]+==" ; \
	    test $${PIPESTATUS[0]} -eq 0; \
	done

# End to end on the real stack (bluetoothd 5.66, kernel L2CAP/AVDTP, snd-aloop)
# in throwaway qemu VMs booting Debian 12's linux-image-6.12 (downloaded once
# into build/vm/kernel); installs its Debian packages (root). docs/vm-testing.md
check-vm: deps
	$(MAKE) all test-tools
	BUILD=$(BUILD) PYTHON=$(PYTHON) tests/vm/run-vm.sh $(VM_SCENARIOS)

# Streaming through repeated disruptions (one every SOAK_CYCLE_SECONDS);
# the heap, RSS and fds must stay flat.
SOAK_SECONDS ?= 3600
SOAK_CYCLE_SECONDS ?= 15
soak: all test-tools
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_CYCLE_SECONDS=$(SOAK_CYCLE_SECONDS) \
	    $(PYTHON) tests/integration/run.py test_soak

# Warnings as errors with clang too, and gcc's static analyzer.
# clang and gcc -fanalyzer builds, and clang-tidy with .clang-tidy's checks
CLANG_TIDY ?= clang-tidy
lint:
	$(MAKE) BUILD=$(BUILD)/clang CC=clang all
	$(MAKE) BUILD=$(BUILD)/analyzer CFLAGS="-O1 -g -fanalyzer" all
	$(CLANG_TIDY) --quiet $(wildcard src/*.c) -- -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	    -Iinclude $(CODEC_DEFS) $(PKG_CFLAGS) -DA2DPSRC_VERSION='"$(VERSION)"'

check-all: check lint check-asan check-valgrind fuzz

demo: deps
	$(MAKE) all test-tools
	$(PYTHON) tools/demo.py

# ---- benchmarks (bench/: not part of make check) ---------------------------

BENCH_TOOLS := $(BUILD)/bench/sbc-floor $(BUILD)/bench/gen-audio $(BUILD)/bench/capture-floor \
               $(BUILD)/bench/encode-path $(BUILD)/bench/rss-floor $(BUILD)/bench/codec-floor
BENCH_DEBS  := stress-ng valgrind bluez-alsa-utils libasound2-plugin-bluez \
               pipewire pipewire-bin wireplumber libspa-0.2-bluetooth

$(BUILD)/bench/sbc-floor: bench/sbc-floor.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS) $(shell $(PKG_CONFIG) --libs sbc)
$(BUILD)/bench/capture-floor: bench/capture-floor.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS) $(shell $(PKG_CONFIG) --libs alsa)
# every library the daemon links, loaded whether used or not (see the file)
$(BUILD)/bench/rss-floor: bench/rss-floor.c include/codec-sonames.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS) -Wl,--no-as-needed $(PKG_LIBS) $(shell $(PKG_CONFIG) --libs bluez) -lpthread -lm -Wl,--as-needed
$(BUILD)/bench/gen-audio: bench/gen-audio.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS) -lm

$(BUILD)/bench/encode-path: bench/encode-path.c src/sender.c src/airtime.c src/a2dp-codecs.c src/a2dp-sbc.c \
                            src/a2dp-sbc-xq.c $(CODEC_SRCS) src/codec-lib.c src/latm.c src/rtp.c src/sbc-config.c \
                            src/err-text.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(shell $(PKG_CONFIG) --libs sbc) -lm

# every codec of the table, its encoder alone (bench.py --codecs)
$(BUILD)/bench/codec-floor: bench/codec-floor.c src/a2dp-codecs.c src/a2dp-sbc.c src/a2dp-sbc-xq.c \
                            $(CODEC_SRCS) src/codec-lib.c src/rtp.c src/sbc-config.c src/err-text.c src/latm.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(shell $(PKG_CONFIG) --libs sbc) -lm -lpthread

bench-tools: $(BENCH_TOOLS)

# The encode path for arm64 under qemu-user, next to the libsbc floor
# there: an emulated figure, not a board measurement (cross-check installs
# the toolchain and libraries).
bench-arm64: bench-tools
	$(MAKE) CROSS=aarch64-linux-gnu BUILD=$(BUILD)/arm64 $(BUILD)/arm64/bench/sbc-floor \
	    $(BUILD)/arm64/bench/encode-path
	$(BUILD)/bench/gen-audio music --rate 44100 --seconds 10 $(BUILD)/bench/arm64-music.raw
	qemu-aarch64-static -L / $(BUILD)/arm64/bench/sbc-floor --min-cpu 3 $(BUILD)/bench/arm64-music.raw
	qemu-aarch64-static -L / $(BUILD)/arm64/bench/encode-path --min-cpu 3 $(BUILD)/bench/arm64-music.raw

bench-deps: deps
	@if [ "$$(id -u)" -eq 0 ]; then export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y --no-install-recommends $(BENCH_DEBS) >/dev/null || \
	    { apt-get update -qq && apt-get install -y --no-install-recommends $(BENCH_DEBS) >/dev/null; }; \
	else echo "bench: as root this installs $(BENCH_DEBS)"; fi

# ~12 min + ~16 min for the codecs and the peers on them + ~3 min for two
# speakers against one: writes docs/performance.md, bench/results/latest.json,
# bench/results/codecs.json and bench/results/two.json
bench: bench-deps
	$(MAKE) all test-tools bench-tools
	$(PYTHON) bench/bench.py $(BENCH_ARGS)
	$(PYTHON) bench/bench.py --codecs $(BENCH_CODEC_ARGS)
	$(PYTHON) bench/bench.py --two $(BENCH_TWO_ARGS)

# CI: ~70 s + ~60 s for every codec (sine only, 3 s each) + ~30 s for two speakers, no peers,
# leaves docs/ alone
bench-quick: deps
	$(MAKE) all test-tools bench-tools
	@if [ "$$(id -u)" -eq 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends stress-ng valgrind >/dev/null; fi
	$(PYTHON) bench/bench.py --quick --no-doc --json $(BUILD)/bench/quick.json
	$(PYTHON) bench/bench.py --codecs --quick --seconds 3 --no-doc --json $(BUILD)/bench/quick-codecs.json
	$(PYTHON) bench/bench.py --two --quick --seconds 3 --no-doc --json $(BUILD)/bench/quick-two.json

# ---- install -------------------------------------------------------------

install: all $(if $(filter yes,$(MAN)),man)
	install -D -m 0755 $(BUILD)/a2dpsrcd $(DESTDIR)$(SBINDIR)/a2dpsrcd
	install -D -m 0755 $(BUILD)/a2dpsrcctl $(DESTDIR)$(BINDIR)/a2dpsrcctl
	install -D -m 0644 $(BUILD)/a2dpsrcd.service $(DESTDIR)$(UNITDIR)/a2dpsrcd.service
	install -D -m 0644 systemd/a2dpsrc.sysusers $(DESTDIR)$(SYSUSERSDIR)/a2dpsrc.conf
	install -D -m 0644 dbus/org.a2dpsrc.conf $(DESTDIR)$(DBUSPOLICYDIR)/org.a2dpsrc.conf
	install -D -m 0644 dbus/org.a2dpsrc.service $(DESTDIR)$(DBUSSERVICEDIR)/org.a2dpsrc.service
	install -D -m 0644 dbus/org.a2dpsrc.Manager1.xml $(DESTDIR)$(DBUSIFACEDIR)/org.a2dpsrc.Manager1.xml
	install -D -m 0644 packaging/completion/a2dpsrcctl $(DESTDIR)$(BASHCOMPDIR)/a2dpsrcctl
	install -D -m 0644 docs/a2dpsrcd.conf.example $(DESTDIR)$(SYSCONFDIR)/a2dpsrcd.conf.example
ifeq ($(MAN),yes)
	set -e; for p in $(MANPAGES); do \
	    install -D -m 0644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/$${p##*/}; done
endif
	@# on the running system (no DESTDIR), as root: the unit's user now, so
	@# that `systemctl start a2dpsrcd` works at once (packages run
	@# systemd-sysusers from their postinst instead)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && command -v systemd-sysusers >/dev/null; then \
	    echo "systemd-sysusers $(SYSUSERSDIR)/a2dpsrc.conf"; \
	    systemd-sysusers $(SYSUSERSDIR)/a2dpsrc.conf; fi

# ---- Debian package (debian/) ---------------------------------------------

# dpkg-buildpackage -us -uc -b in a copy of the checkout under build/deb/,
# then lintian (no error, each warning fixed or overridden with its reason)
deb:
	tools/build-deb.sh $(BUILD)/deb

# as root on Debian: apt-get install the package, check what it installed,
# purge it, check what is left (tests/packaging/test-deb.sh)
check-deb: deb
	tests/packaging/test-deb.sh $(BUILD)/deb

# as root: make install without DESTDIR makes the a2dpsrc user itself
check-install: all
	BUILD=$(BUILD) tests/packaging/test-install.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)
