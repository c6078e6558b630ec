/* Fleet-wide message statistics: per action, the calls the stations sent and how they ended,
 * with round-trip latencies kept whole for exact percentiles; and the calls the CSMS made. */
#ifndef AG_SIM_STATS_H
#define AG_SIM_STATS_H

#include <jansson.h>
#include <stdint.h>

struct stats;

struct stats *stats_new(void);
void stats_free(struct stats *s);

void stats_call_sent(struct stats *s, const char *action);
void stats_call_ok(struct stats *s, const char *action, uint64_t rtt_us);
void stats_call_error(struct stats *s, const char *action);   /* CALLERROR received */
void stats_call_timeout(struct stats *s, const char *action); /* no answer in time, or link lost */
void stats_csms_call(struct stats *s, const char *action);    /* a call the CSMS made */
/* Forget the latency samples so far (the counts stay): percentiles then describe the steady
 * state after a warm-up, not the connection ramp. */
void stats_drop_samples(struct stats *s);
/* Totals over all actions. */
uint64_t stats_total_sent(const struct stats *s);
uint64_t stats_total_errors(const struct stats *s);

/* {"calls":{action:{sent,ok,error,timeout,p50_ms,p99_ms,max_ms}}, "all":{...}, "csms_calls":{...}}
 * (new reference). Sorts the samples. */
json_t *stats_to_json(struct stats *s);

#endif
