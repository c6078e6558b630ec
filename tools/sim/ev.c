/* EV model. The one decision to know: the draw is min(offer, on-board charger, BMS taper) and
 * an offer below 6 A pauses charging, as a real vehicle does on the IEC 61851 pilot; so a
 * station limited to 5 A reports 0 A, not 5 A. */
#include "tools/sim/ev.h"

#include <math.h>

#define EV_FULL_SOC 0.999
#define EV_TAPER_FLOOR 0.05     /* fraction of the on-board limit left just before full */

void ev_init_random(struct ev *ev, struct rng *r)
{
	ev->capacity_wh = rng_range(r, 40000.0, 100000.0);
	ev->soc = rng_range(r, 0.10, 0.60);
	ev->obc_limit_a = rng_unit(r) < 0.5 ? 16.0 : 32.0;
	ev->phases = rng_unit(r) < 0.2 ? 1 : 3;
	ev->taper_soc = rng_range(r, 0.75, 0.85);
}

bool ev_full(const struct ev *ev)
{
	return ev->soc >= EV_FULL_SOC;
}

double ev_current_a(const struct ev *ev, double offered_a)
{
	double accept_a = ev->obc_limit_a;

	if (ev_full(ev) || offered_a < EV_MIN_CURRENT_A)
		return 0.0;
	if (ev->soc > ev->taper_soc) {
		double x = (ev->soc - ev->taper_soc) / (1.0 - ev->taper_soc);
		accept_a *= 1.0 - x * (1.0 - EV_TAPER_FLOOR);
	}
	return fmin(offered_a, accept_a);
}

/* ev_current_a's taper, accept = obc * (1 - x * (1 - floor)) with x = (soc - taper_soc) /
 * (1 - taper_soc), is linear in the state of charge: it reaches 0 (extrapolated past full) at
 * taper_soc + (1 - taper_soc) / (1 - floor), and the on-board limit at taper_soc; in energy taken,
 * it crosses max_a where max_a / obc of the way from the zero back to the taper's start. */
void ev_taper_line(const struct ev *ev, double max_a, double *from_wh, double *zero_wh)
{
	double soc_zero = ev->taper_soc + (1.0 - ev->taper_soc) / (1.0 - EV_TAPER_FLOOR);
	double start_wh = ev->capacity_wh * (ev->taper_soc - ev->soc);

	*from_wh = *zero_wh = 0;
	if (ev->taper_soc >= 1.0 || !(max_a > 0) || !(ev->obc_limit_a > 0))
		return;
	*zero_wh = ev->capacity_wh * (soc_zero - ev->soc);
	*from_wh = *zero_wh - fmin(max_a / ev->obc_limit_a, 1.0) * (*zero_wh - start_wh);
}

double ev_charge(struct ev *ev, double current_a, double voltage_v, double dt_s)
{
	double wh = current_a * voltage_v * ev->phases * dt_s / 3600.0;

	if (wh <= 0.0)
		return 0.0;
	if (wh > (1.0 - ev->soc) * ev->capacity_wh)
		wh = (1.0 - ev->soc) * ev->capacity_wh;
	ev->soc += wh / ev->capacity_wh;
	return wh;
}
