/* The EV-limited cap and its probe: what the site learns from a charger's meter values about an
 * EV that takes clearly less than it is offered (tapering near full, a small on-board charger, a
 * single-phase car on a 3-phase charger), and when it offers such an EV its full share again to
 * see whether it takes more. Shared by the daemon's site controller (edge/site/site.c), which fills
 * a reading from the charger object, and the what-if replay (tools/sim/replay.c), which fills it
 * from its simulated EV, so a replay caps and probes exactly as the daemon does. */
#ifndef AG_EV_CAP_H
#define AG_EV_CAP_H

#include <stdbool.h>
#include <stdint.h>

#define EV_PROBE_PERIOD_S 300           /* a capped EV is offered its full share this often */
#define EV_PROBE_MAX_S 90               /* a probe whose raise never showed in a reading ends */
#define EV_SETTLE_MS 5000               /* an EV's ramp after a raise, before its draw says anything */
#define EV_RENEW_WINDOW_MS 2000         /* a probe starts with a renewal due within this */
#define EV_STEADY_MS 60000              /* a capped EV's draw this steady for this long ... */
#define EV_STEADY_BAND_A 0.5            /* ... (highest less lowest reading) ... */
#define EV_TIGHT_SLACK_A 0.1            /* ... is capped at least this far above its highest reading, */
#define EV_TIGHT_SPREAD 2.5             /* ... or this many times its spread if more, */
#define EV_TIGHT_MAX_A 1.0              /* ... at most this far */
#define EV_TIGHT_BACKOFF 3.0            /* an EV that pushes against it: the next one this much further */

/* One charger's record, kept by the caller from solve to solve; all zero = nothing learnt. */
struct ev_cap {
	double cap_a;                   /* 0 = not capped */
	bool probing;                   /* until judged: a probe (cap_a > 0, offered what the others
					 * leave above it) or a release (cap_a 0, its full share) */
	uint64_t probe_ms;              /* when the cap was set or the last probe began */
	double slack_a;                 /* how far cap_a sits above the draw it was set on */
	double steady_lo_a, steady_hi_a;        /* the draws read since steady_ms, the EV below its offer */
	uint64_t steady_ms;             /* when the first of them was taken (0: none yet) */
	double tight_least_a;           /* a tight cap's least slack this session (0: EV_TIGHT_SLACK_A);
					 * each push against a tight cap multiplies it by EV_TIGHT_BACKOFF,
					 * and past EV_TIGHT_MAX_A there are no tight caps this session */
	double probe_raised_a;          /* a probe raised a tight cap by this much (0: it did not) */
	bool max_shown;                 /* a settled reading showed it drawing its charger's maximum */
};

/* What the charger's last meter value and its profile say at a solve. `usable` is false when
 * there is nothing to learn from: no EV, no limit installed, or no fresh meter value. */
struct ev_cap_reading {
	bool ev;                        /* an EV is plugged in (false: its session is over, the record
					 * starts afresh) */
	bool usable;
	bool held;                      /* not usable because the EV is plugged in and held at 0 A */
	double draw_a;                  /* highest phase current of the last meter value */
	uint64_t at_ms;                 /* when that meter value was taken */
	double sent_a;                  /* the limit the charger holds */
	double min_a;                   /* the charger's minimum current */
	double max_a;                   /* and its own maximum (configured: not a CSMS's limit, nor a
					 * decrease the charger has yet to take) */
	uint64_t raised_ms;             /* when the last increase went out (0 = never) */
	double before_raise_a;          /* the limit the charger held before that increase */
	uint64_t renew_ms;              /* when the charger's profile renewal is next due */
};

/* Whether the EV shares at e->cap_a in this solve (the solver's ev_limited and ev_cap_a; with
 * e->probing, a probe: the solver's ev_probe), the record updated from reading r at `now`.
 * *site_probing is the site's one probe at a time: true while any charger's record has `probing`
 * set (the caller works it out before the chargers of a solve are judged); a probe starts only
 * when it is false, and sets it. `id` names the charger in the debug log line of a probe (NULL:
 * no log line). */
bool ev_cap_judge(struct ev_cap *e, const struct ev_cap_reading *r, double slack_a, bool *site_probing,
		  uint64_t now, const char *id);

#endif
