/* What the edge asks of a charger once it has booted (or resumed without booting), besides its charging profiles: the meter
 * values the solver needs (per-phase current, power, energy, SoC) at ocpp.meter_interval_s,
 * through ChangeConfiguration (1.6) or SetVariables on SampledDataCtrlr (2.0.1). Once per
 * connection; a charger that refuses keeps its own settings (logged once, in words). */
#ifndef AG_CHARGER_SETUP_H
#define AG_CHARGER_SETUP_H

struct ag_daemon;

/* A daemon module: asks on the proxy's ticks, once per connection (forgotten when it closes);
 * what was asked of each charger is kept here, not on struct charger. */
int charger_setup_start(struct ag_daemon *d);
void charger_setup_stop(struct ag_daemon *d);

/* The measurands the edge asks for, most useful first. */
#define SETUP_MEASURANDS "Current.Import,Power.Active.Import,Energy.Active.Import.Register,Voltage,SoC"
#define SETUP_MEASURANDS_NO_SOC "Current.Import,Power.Active.Import,Energy.Active.Import.Register,Voltage"

#endif
