/* Logging to stderr or the journal; see log.h. The level is process-wide configuration set
 * once at start-up; the other file-static state is the last line, for folding repeats. */
#include "edge/core/log.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LL_INFO;
static bool to_journal;
/* A line repeated back to back is written once, then "last message repeated N times" when
 * another line comes or REPEAT_FLUSH_S after the first repeat: a library stuck in a loop
 * (accept failing with EMFILE wrote 3.6 million lines in 20 s) cannot fill the disk. */
#define REPEAT_FLUSH_S 30
static char last_line[2048];
static enum log_level last_level;
static unsigned long repeats;
static time_t repeat_from_s;

/* JOURNAL_STREAM is "dev:ino" of the journal socket; it only counts if it is our stderr. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long dev, ino;

	if (!js || sscanf(js, "%lu:%lu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void log_init(enum log_level level)
{
	min_level = level;
	to_journal = stderr_is_journal();
}

enum log_level log_get_level(void)
{
	return min_level;
}

static const char *level_name(enum log_level level)
{
	switch (level) {
	case LL_ERROR: return "error";
	case LL_WARN: return "warning";
	case LL_NOTICE: return "notice";
	case LL_INFO: return "info";
	default: return "debug";
	}
}

void log_one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void emit(enum log_level level, const char *line)
{
	if (to_journal) {
		fprintf(stderr, "<%d>%s\n", (int)level, line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s: %s\n", stamp, ts.tv_nsec / 1000000, level_name(level), line);
}

static void flush_repeats(void)
{
	char note[64];

	if (!repeats)
		return;
	snprintf(note, sizeof(note), "last message repeated %lu time%s", repeats, repeats == 1 ? "" : "s");
	emit(last_level, note);
	repeats = 0;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[sizeof(last_line)];
	struct timespec now;

	if (level > min_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	log_one_line(line);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (level == last_level && strcmp(line, last_line) == 0) {
		if (!repeats++)
			repeat_from_s = now.tv_sec;
		if (now.tv_sec - repeat_from_s >= REPEAT_FLUSH_S)
			flush_repeats();
		return;
	}
	flush_repeats();
	memcpy(last_line, line, sizeof(last_line));
	last_level = level;
	emit(level, line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

static void lws_emit(int lws_level, const char *line)
{
	enum log_level level = lws_level == LLL_ERR ? LL_WARN : lws_level == LLL_WARN ? LL_INFO : LL_DEBUG;
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_msg(level, "lws: %.*s", (int)n, line);
}

void log_hook_lws(void)
{
	int mask = LLL_ERR | LLL_WARN;

	if (min_level >= LL_DEBUG)
		mask |= LLL_NOTICE;
	lws_set_log_level(mask, lws_emit);
}
