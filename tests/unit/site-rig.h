/* A site controller with one charger, for unit tests that #include edge/site/site.c and
 * edge/site/site-ev.c (their statics):
 * no loop, no store, a 10 s meter interval at 230 V, one three-phase 6-32 A charger "EV1" with an
 * EV. */
#ifndef AG_TEST_SITE_RIG_H
#define AG_TEST_SITE_RIG_H

struct rig {
	struct ag_config cfg;
	struct ag_daemon d;
	struct site s;
	struct site_ev_view v;          /* what site-ev.c reads of s */
	struct charger *ch;
	struct site_ev ev;              /* the site's record of ch */
	struct solver_charger c;
};

static void site_rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->cfg.ocpp.meter_interval_s = 10;
	r->cfg.site.voltage_v = 230;
	r->d.cfg = &r->cfg;
	r->s.d = &r->d;
	r->v = (struct site_ev_view){ .cfg = &r->cfg, .probing = &r->s.probing };
	r->ch = charger_new("EV1", NULL);
	snprintf(charger_connector(r->ch, 1)->status, sizeof(r->ch->connectors[0].status), "Charging");
	r->ev.ch = r->ch;
	r->c = (struct solver_charger){ .phases = 3, .rotation = { 0, 1, 2 }, .min_a = 6, .max_a = 32, .ev = true };
}

#endif
