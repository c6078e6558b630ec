/* Shared by the libFuzzer targets in tests/fuzz/: input helpers and the quiet logging every
 * target wants (a log line per execution would be most of the cost of a run).
 *
 * A target is one file tests/fuzz/fuzz_<name>.c defining LLVMFuzzerTestOneInput; it may
 * #include the module it fuzzes to reach statics, as unit tests do. Its seeds live in
 * tests/fuzz/corpus/fuzz_<name>/ and its dictionary, if any, in tests/fuzz/fuzz_<name>.dict. */
#ifndef AG_TESTS_FUZZ_H
#define AG_TESTS_FUZZ_H

#include "edge/core/config.h"
#include "edge/core/log.h"

#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a NUL-terminated string (the parsers under test take C strings). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

/* Reading the input as a byte stream; past the end every read returns 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);
	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

/* Only what would reach an operator as an error; AMPGATE_FUZZ_LOG=debug shows everything
 * (for reading a reproducer's run). */
static inline void fuzz_quiet_log(void)
{
	const char *v = getenv("AMPGATE_FUZZ_LOG");

	log_init(v && strcmp(v, "debug") == 0 ? LL_DEBUG : (enum log_level)0);
}

/* LLVMFuzzerInitialize for a target that needs nothing beyond quiet logging. */
#define FUZZ_DEFAULT_INIT                                      \
	int LLVMFuzzerInitialize(int *argc, char ***argv)      \
	{                                                      \
		(void)argc;                                    \
		(void)argv;                                    \
		fuzz_quiet_log();                              \
		return 0;                                      \
	}

/* libwebsockets stand-ins for a dummy wsi: a writable request is accepted and lws always
 * "still holds data", so ws_link_send queues rather than writing at once (the queue is what the
 * harnesses exercise and check). */
#define FUZZ_LWS_QUEUE_ONLY                                    \
	int lws_callback_on_writable(struct lws *wsi)          \
	{                                                      \
		(void)wsi;                                     \
		return 1;                                      \
	}                                                      \
	int lws_partial_buffered(struct lws *wsi)              \
	{                                                      \
		(void)wsi;                                     \
		return 1;                                      \
	}

/* A property of the code under test that does not hold is a finding, like a crash. */
static inline void fuzz_check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "property broken: %s\n", what);
		abort();
	}
}

/* Load a configuration from memory (config_load reads a file: an anonymous memfd stands in for
 * it, so nothing touches the disk). Errors go to `errs`. */
static inline struct ag_config *fuzz_load_config(const char *text, size_t len, FILE *errs)
{
	char path[64];
	int fd = memfd_create("ampgate-fuzz.conf", MFD_CLOEXEC);
	struct ag_config *cfg;

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	cfg = config_load(path, errs);
	close(fd);
	return cfg;
}

#endif
