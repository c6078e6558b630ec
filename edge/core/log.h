/* Logging: one sink for the daemon and the libraries it hosts (libwebsockets).
 *
 * Lines go to stderr. Under systemd (JOURNAL_STREAM names our stderr) each line carries a
 * "<N>" syslog priority prefix, which journald turns into the entry's priority, so
 * `journalctl -p warning -u ampgated` shows what a site manager must act on. */
#ifndef AG_LOG_H
#define AG_LOG_H

#include <stdarg.h>

enum log_level { LL_ERROR = 3, LL_WARN = 4, LL_NOTICE = 5, LL_INFO = 6, LL_DEBUG = 7 };

/* Show messages at or above `level` (LL_INFO by default; -v gives LL_DEBUG). */
void log_init(enum log_level level);
enum log_level log_get_level(void);
/* Route libwebsockets' own log lines through log_msg (warnings and errors; notices with -v). */
void log_hook_lws(void);

/* Messages quote what peers and files say (a charger's vendor string, a config value): control
 * characters in `s` become '?', so one message stays one line and cannot forge another. */
void log_one_line(char *s);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
