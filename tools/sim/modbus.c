/* `ampgate-sim modbus`: a Modbus TCP server that serves the simulated site (drivers/sim.c) as
 * real register maps, for the demo, tests and installers' training:
 *   unit 1  SunSpec grid meter (models 1, 203) at 40000
 *   unit 2  SunSpec battery (models 1, 124, 802) at 40000; writes to 124 limit the battery
 *   unit 3  Eastron SDM630 (float32 input registers)
 *   unit 4  SunSpec PV inverter (models 1, 103) at 40000
 * with faults on demand: no answer, exception replies, garbled answers, frozen values.
 * The battery follows model 124's limits like a Fronius storage does (a negative InWRte forces
 * discharge, a negative OutWRte forces charge), ramps, drops the limits after
 * InOutWRte_RvrtTms, and trips on request; a --control file sets the base load, PV power and
 * the trip while the server runs, so a test can step the load or pass a cloud; the PV inverter
 * can follow a --pv-profile file.
 *
 * Design decision: the register images are encoded with the same tables the drivers decode
 * with (sunspec-models.c, regmap.c), and every request sees values refreshed from the one
 * site model, so what a client reads is what the simulated site does at that moment. */
#include "drivers/regmap.h"
#include "drivers/sim.h"
#include "drivers/sunspec-models.h"
#include "edge/daemon.h"
#include "edge/core/net-addr.h"
#include "tools/sim/pv-profile.h"
#include "tools/sim/sim.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <modbus.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define N_UNITS 5               /* unit ids 1..4 */
#define SS_BASE 40000
#define SS_REGS 400
#define IN_REGS 0x60

enum fault { F_NONE, F_TIMEOUT, F_EXCEPTION, F_GARBAGE, F_FREEZE };

struct unit {
	modbus_mapping_t *map;
	enum fault fault;
	uint16_t m124, m802;    /* offsets of models in the image (battery) */
	uint16_t model_at;      /* offset of the measuring model (meter, inverter) */
};

struct server {
	struct sim_model site;
	struct unit units[N_UNITS];
	uint64_t faults_from_ms;
	bool quiet;
	const char *ev_draw;    /* the fleet simulator's --draw-out file: EVs add to the grid meter */
	const char *control;    /* --control file: {"base_a": A, "pv_w": W, "trip": bool} */
	FILE *trace;            /* --trace: one line per grid meter read */
	bool bat_silent;        /* --control "silent": the battery answers nothing (and keeps going) */
	struct pv_profile pv;   /* --pv-profile: PV power at seconds since start */
	uint64_t started_ms;
	double control_pv_w;    /* --control's pv_w (NAN: none): wins over the profile */
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint16_t *image(struct unit *u)
{
	return u->map->tab_registers;
}

/* Write a model header and return the offset of the next model. */
static uint16_t put_model(uint16_t *img, uint16_t at, uint16_t id)
{
	const struct ss_model *m = sunspec_model_find(id);

	img[at] = id;
	img[at + 1] = m->length;
	return (uint16_t)(at + 2 + m->length);
}

static void put_end(uint16_t *img, uint16_t at)
{
	img[at] = SUNSPEC_END_ID;
	img[at + 1] = 0;
}

static void put_sf(uint16_t *blk, uint16_t id, const char *name, int sf)
{
	const struct ss_model *m = sunspec_model_find(id);

	sunspec_put(blk, (size_t)m->length + 2, m, name, sf);
}

static void put_val(uint16_t *blk, uint16_t id, const char *name, double v)
{
	const struct ss_model *m = sunspec_model_find(id);

	sunspec_put(blk, (size_t)m->length + 2, m, name, v);
}

static uint16_t put_common(uint16_t *img, const char *model, const char *serial)
{
	const struct ss_model *m = sunspec_model_find(1);
	uint16_t *blk = img + 2;

	img[0] = SUNSPEC_MARKER_HI;
	img[1] = SUNSPEC_MARKER_LO;
	put_model(img, 2, 1);
	sunspec_put_string(blk, 68, m, "Mn", "Ampgate");
	sunspec_put_string(blk, 68, m, "Md", model);
	sunspec_put_string(blk, 68, m, "Vr", AG_VERSION);
	sunspec_put_string(blk, 68, m, "SN", serial);
	return (uint16_t)(2 + 2 + m->length);
}

static void layout(struct server *s)
{
	uint16_t *img, at;

	/* unit 1: grid meter, model 203 */
	img = image(&s->units[1]);
	at = put_common(img, "SimMeter 203", "SIM-GRID-1");
	s->units[1].model_at = at;
	put_end(img, put_model(img, at, 203));
	put_sf(img + at, 203, "A_SF", -2);
	put_sf(img + at, 203, "V_SF", -1);
	put_sf(img + at, 203, "Hz_SF", -2);
	put_sf(img + at, 203, "W_SF", 1);       /* int16: with 0, import above 32.7 kW would not encode */
	put_sf(img + at, 203, "TotWh_SF", 0);
	/* unit 2: battery, models 124 and 802 */
	img = image(&s->units[2]);
	at = put_common(img, "SimBattery", "SIM-BESS-2");
	s->units[2].m124 = at;
	at = put_model(img, at, 124);
	s->units[2].m802 = at;
	put_end(img, put_model(img, at, 802));
	put_sf(img + s->units[2].m124, 124, "WChaMax_SF", 1);
	put_sf(img + s->units[2].m124, 124, "ChaState_SF", -1);
	put_sf(img + s->units[2].m124, 124, "InBatV_SF", -1);
	put_sf(img + s->units[2].m124, 124, "InOutWRte_SF", -1);
	put_val(img + s->units[2].m124, 124, "InWRte", 100);
	put_val(img + s->units[2].m124, 124, "OutWRte", 100);
	put_val(img + s->units[2].m124, 124, "StorCtl_Mod", 0);
	put_val(img + s->units[2].m124, 124, "InOutWRte_RvrtTms", 0);
	put_sf(img + s->units[2].m802, 802, "WHRtg_SF", 2);
	put_sf(img + s->units[2].m802, 802, "WChaDisChaMax_SF", 1);
	put_sf(img + s->units[2].m802, 802, "SoC_SF", -1);
	put_sf(img + s->units[2].m802, 802, "V_SF", -1);
	put_sf(img + s->units[2].m802, 802, "A_SF", -1);
	put_sf(img + s->units[2].m802, 802, "W_SF", 1);
	/* unit 4: PV inverter, model 103 */
	img = image(&s->units[4]);
	at = put_common(img, "SimInverter 103", "SIM-PV-4");
	s->units[4].model_at = at;
	put_end(img, put_model(img, at, 103));
	put_sf(img + at, 103, "A_SF", -2);
	put_sf(img + at, 103, "V_SF", -1);
	put_sf(img + at, 103, "W_SF", 1);
	put_sf(img + at, 103, "Hz_SF", -2);
	put_sf(img + at, 103, "WH_SF", 0);
}

static void encode_phases(uint16_t *blk, uint16_t id, const double *amps, const double *volts)
{
	static const char *const a[3] = { "AphA", "AphB", "AphC" }, *const v[3] = { "PhVphA", "PhVphB", "PhVphC" };
	double total = 0;

	for (int ph = 0; ph < 3; ph++) {
		put_val(blk, id, a[ph], id < 200 ? fabs(amps[ph]) : amps[ph]);
		put_val(blk, id, v[ph], volts[ph]);
		total += amps[ph];
	}
	put_val(blk, id, "A", id < 200 ? fabs(total) : total);
}

/* Refresh every unit's registers from the site model (except frozen units). */
/* The chargers' draw per phase from the fleet simulator's file, so the grid meter sees the EVs
 * the daemon allocates to (a missing or half-written file keeps the last values). */
static void read_ev_draw(struct server *s)
{
	json_t *j = s->ev_draw ? json_load_file(s->ev_draw, 0, NULL) : NULL;
	json_t *a = json_object_get(j, "current_a");

	if (json_array_size(a) == 3)
		for (int p = 0; p < 3; p++)
			s->site.extra_a[p] = json_number_value(json_array_get(a, (size_t)p));
	json_decref(j);
}

/* The test's or trainer's hand on the site: a missing key leaves that quantity to the model. */
static void read_control(struct server *s)
{
	json_t *j = s->control ? json_load_file(s->control, 0, NULL) : NULL;
	json_t *v;

	if (!j)
		return;
	s->site.fixed_base_a = json_is_number(v = json_object_get(j, "base_a")) ? json_number_value(v) : NAN;
	s->control_pv_w = json_is_number(v = json_object_get(j, "pv_w")) ? json_number_value(v) : NAN;
	int trip = json_is_true(json_object_get(j, "trip"));
	if (trip != s->site.bat_tripped && !s->quiet)
		fprintf(stderr, "battery %s\n", trip ? "TRIPPED" : "back in service");
	s->site.bat_tripped = trip;
	s->bat_silent = json_is_true(json_object_get(j, "silent"));
	if (json_is_number(v = json_object_get(j, "soc_pct")) && !json_is_true(json_object_get(j, "soc_taken"))) {
		s->site.v.bat_soc_pct = json_number_value(v);
		json_object_set_new(j, "soc_taken", json_true());
		json_dump_file(j, s->control, 0);
	}
	json_decref(j);
}

static void refresh(struct server *s, uint64_t now)
{
	read_ev_draw(s);
	read_control(s);
	s->site.fixed_pv_w = !isnan(s->control_pv_w) ? s->control_pv_w : s->pv.n ? pv_profile_at(&s->pv, (double)(now - s->started_ms) / 1000.0) : NAN;
	const struct sim_values *v = sim_model_step(&s->site, now);
	bool faults = now >= s->faults_from_ms;
	struct unit *u;
	uint16_t *blk;

	u = &s->units[1];
	if (!(faults && u->fault == F_FREEZE)) {
		blk = image(u) + u->model_at;
		encode_phases(blk, 203, v->grid_current_a, v->voltage_v);
		put_val(blk, 203, "Hz", v->frequency_hz);
		put_val(blk, 203, "W", v->grid_power_w);
		put_val(blk, 203, "TotWhImp", v->import_wh);
		put_val(blk, 203, "TotWhExp", v->export_wh);
	}
	u = &s->units[2];
	if (!(faults && u->fault == F_FREEZE)) {
		blk = image(u) + u->m124;
		put_val(blk, 124, "WChaMax", s->site.bat_max_w);
		put_val(blk, 124, "ChaState", v->bat_soc_pct);
		put_val(blk, 124, "InBatV", 720.0);
		put_val(blk, 124, "ChaSt", v->bat_power_w < 0 ? 4 : v->bat_power_w > 0 ? 3 : 6);
		blk = image(u) + u->m802;
		put_val(blk, 802, "WHRtg", v->bat_capacity_wh);
		put_val(blk, 802, "WChaRteMax", v->bat_max_charge_w);
		put_val(blk, 802, "WDisChaRteMax", v->bat_max_discharge_w);
		put_val(blk, 802, "SoC", v->bat_soc_pct);
		put_val(blk, 802, "V", 720.0);
		put_val(blk, 802, "A", v->bat_power_w / 720.0);
		put_val(blk, 802, "W", v->bat_power_w);
		put_val(blk, 802, "ChaSt", v->bat_power_w < 0 ? 4 : v->bat_power_w > 0 ? 3 : 6);
	}
	u = &s->units[3];
	if (!(faults && u->fault == F_FREEZE)) {
		size_t n;
		const struct regmap_entry *map = sdm630_map(&n);
		for (size_t i = 0; i < n; i++) {
			const struct reading_field *f = reading_field_find(map[i].field);
			struct device_reading r;
			reading_clear(&r);
			memcpy(r.current_a, v->grid_current_a, sizeof(r.current_a));
			memcpy(r.voltage_v, v->voltage_v, sizeof(r.voltage_v));
			r.power_w = v->grid_power_w;
			r.frequency_hz = v->frequency_hz;
			r.import_wh = v->import_wh;
			r.export_wh = v->export_wh;
			regmap_put(&map[i], u->map->tab_input_registers + map[i].address, *(double *)((char *)&r + f->offset));
		}
	}
	u = &s->units[4];
	if (!(faults && u->fault == F_FREEZE)) {
		blk = image(u) + u->model_at;
		encode_phases(blk, 103, v->pv_current_a, v->voltage_v);
		put_val(blk, 103, "W", v->pv_power_w);
		put_val(blk, 103, "Hz", v->frequency_hz);
		put_val(blk, 103, "WH", v->pv_energy_wh);
	}
}

/* After a write to the battery: take its model 124 limits into the site model. */
static void apply_battery_controls(struct server *s)
{
	struct unit *u = &s->units[2];
	const struct ss_model *m = sunspec_model_find(124);
	uint16_t *blk = image(u) + u->m124;
	size_t n = (size_t)m->length + 2;
	double wmax = sunspec_get(blk, n, m, "WChaMax");
	unsigned mode = blk[sunspec_point(m, "StorCtl_Mod")->offset];
	double revert_s = sunspec_get(blk, n, m, "InOutWRte_RvrtTms");

	if (s->site.bat_tripped)
		return;         /* a tripped battery takes the write and does nothing */
	sim_model_set_battery(&s->site, (mode & 1) ? wmax * sunspec_get(blk, n, m, "InWRte") / 100 : NAN,
			      (mode & 2) ? wmax * sunspec_get(blk, n, m, "OutWRte") / 100 : NAN,
			      isnan(revert_s) ? 0 : (int)revert_s, now_ms());
	if (!s->quiet)
		fprintf(stderr, "battery limits: charge %.0f W, discharge %.0f W\n", s->site.bat_limit_charge_w,
			s->site.bat_limit_discharge_w);
}

/* A well-formed header around a body whose byte count does not match what was asked. */
static void send_garbage(int fd, const uint8_t *q)
{
	uint8_t rsp[] = { q[0], q[1], 0, 0, 0, 5, q[6], q[7], 2, 0xDE, 0xAD };

	if (write(fd, rsp, sizeof(rsp)) < 0)
		return;
}

static void handle(struct server *s, modbus_t *ctx, int fd, const uint8_t *q, int len)
{
	int unit = q[6], fn = q[7];
	uint64_t now = now_ms();
	struct unit *u = unit > 0 && unit < N_UNITS ? &s->units[unit] : NULL;
	bool faults = now >= s->faults_from_ms;

	if (!u) {
		modbus_reply_exception(ctx, q, MODBUS_EXCEPTION_GATEWAY_TARGET);
		return;
	}
	if ((faults && u->fault == F_TIMEOUT) || (unit == 2 && s->bat_silent))
		return;
	if (faults && u->fault == F_EXCEPTION) {
		modbus_reply_exception(ctx, q, MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE);
		return;
	}
	if (faults && u->fault == F_GARBAGE) {
		send_garbage(fd, q);
		return;
	}
	refresh(s, now);
	modbus_reply(ctx, q, len, u->map);
	if (unit == 1 && s->trace && (fn == MODBUS_FC_READ_HOLDING_REGISTERS) && u->fault != F_FREEZE) {
		/* What a client just read off the grid meter, with the battery behind it: a test checks
		 * the limit on every reading the edge made. */
		const struct sim_values *v = &s->site.v;
		fprintf(s->trace, "{\"t_ms\":%llu,\"grid_w\":%.0f,\"grid_a\":[%.2f,%.2f,%.2f],\"bat_w\":%.0f,"
			"\"soc_pct\":%.3f,\"pv_w\":%.0f}\n", (unsigned long long)now, v->grid_power_w,
			v->grid_current_a[0], v->grid_current_a[1], v->grid_current_a[2], v->bat_power_w, v->bat_soc_pct,
			v->pv_power_w);
		fflush(s->trace);
	}
	if (unit == 2 && (fn == MODBUS_FC_WRITE_SINGLE_REGISTER || fn == MODBUS_FC_WRITE_MULTIPLE_REGISTERS))
		apply_battery_controls(s);
}

static int parse_faults(struct server *s, const char *spec)
{
	static const struct { const char *name; enum fault f; } kinds[] = {
		{ "timeout", F_TIMEOUT }, { "exception", F_EXCEPTION }, { "garbage", F_GARBAGE }, { "freeze", F_FREEZE },
	};
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(item, ':');
		int unit = colon ? atoi(colon + 1) : 0;
		enum fault f = F_NONE;
		if (colon)
			*colon = '\0';
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strcmp(item, kinds[i].name) == 0)
				f = kinds[i].f;
		if (f == F_NONE || unit < 1 || unit >= N_UNITS)
			return -EINVAL;
		s->units[unit].fault = f;
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ampgate-sim modbus --listen HOST:PORT [--faults KIND:UNIT,...] [--faults-after-ms N]\n"
		"                         [--ev-draw FILE] [--control FILE] [--soc PCT] [--battery-kwh E]\n"
		"                         [--battery-kw P] [--trace FILE] [--pv-profile FILE] [--quiet]\n"
		"  Serves unit 1 SunSpec grid meter (203), unit 2 SunSpec battery (124 + 802), unit 3 SDM630,\n"
		"  unit 4 SunSpec PV inverter (103). Port 0 picks a free port; the line \"listening on HOST:PORT\"\n"
		"  tells which. Fault kinds: timeout (no answer), exception (server device failure),\n"
		"  garbage (a malformed answer), freeze (values stop changing). --ev-draw: the file\n"
		"  `ampgate-sim chargers --draw-out` writes; the grid meter adds the EVs' draw to the site load.\n"
		"  --control: a JSON file read before every answer: {\"base_a\": A per phase (instead of the day\n"
		"  profile), \"pv_w\": W (instead of the day curve), \"trip\": true (the battery trips: no power,\n"
		"  ignores setpoints, still answers), \"silent\": true (the battery answers nothing but\n"
		"  keeps its setpoint), \"soc_pct\": set the SoC once}. The battery (default 50 kWh,\n"
		"  25 kW, SoC 60 %%) follows model 124 limits (negative InWRte: discharge) with a 20 kW/s ramp.\n"
		"  --trace: one JSON line per read of the grid meter (time, grid W and A, battery W and SoC).\n"
		"  --pv-profile: the PV inverter follows \"SECONDS WATTS\" lines (seconds since start, linear\n"
		"  between points, the last value after the end); --control's pv_w wins over it.\n");
}

static int serve(struct server *s, modbus_t *ctx, int server_fd)
{
	fd_set all;
	int fdmax = server_fd;
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];

	FD_ZERO(&all);
	FD_SET(server_fd, &all);
	while (!stop_requested) {
		fd_set rd = all;
		struct timeval tv = { 0, 200000 };
		int n = select(fdmax + 1, &rd, NULL, NULL, &tv);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (int fd = 0; fd <= fdmax && n > 0; fd++) {
			if (!FD_ISSET(fd, &rd))
				continue;
			n--;
			if (fd == server_fd) {
				int c = accept(server_fd, NULL, NULL);
				if (c >= 0 && c < FD_SETSIZE) {
					FD_SET(c, &all);
					fdmax = c > fdmax ? c : fdmax;
				} else if (c >= 0) {
					close(c);
				}
				continue;
			}
			modbus_set_socket(ctx, fd);
			int len = modbus_receive(ctx, q);
			if (len > 0) {
				handle(s, ctx, fd, q, len);
			} else if (len < 0) {
				close(fd);
				FD_CLR(fd, &all);
			}
		}
	}
	return 0;
}

int sim_modbus_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "faults", required_argument, NULL, 'f' },
		{ "faults-after-ms", required_argument, NULL, 'a' }, { "quiet", no_argument, NULL, 'q' },
		{ "ev-draw", required_argument, NULL, 'e' }, { "help", no_argument, NULL, 'h' },
		{ "control", required_argument, NULL, 'c' }, { "soc", required_argument, NULL, 's' },
		{ "battery-kwh", required_argument, NULL, 'E' }, { "battery-kw", required_argument, NULL, 'P' },
		{ "trace", required_argument, NULL, 't' }, { "pv-profile", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	double soc = 60, bat_kwh = 50, bat_kw = 25;
	struct server s;
	struct host_port hp = { "127.0.0.1", 1502 };
	char port[16];
	int c, rc = 0;

	memset(&s, 0, sizeof(s));
	s.control_pv_w = NAN;
	optind = 1;
	while ((c = getopt_long(argc, argv, "l:f:a:e:c:s:E:P:t:v:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			/* host_port_parse refuses port 0, which here means "pick a free one". */
			if (strcmp(optarg + (strlen(optarg) > 2 ? strlen(optarg) - 2 : 0), ":0") == 0 &&
			    strlen(optarg) - 2 < sizeof(hp.host)) {
				snprintf(hp.host, sizeof(hp.host), "%.*s", (int)(strlen(optarg) - 2), optarg);
				hp.port = 0;
			} else if (host_port_parse(optarg, &hp) < 0) {
				fprintf(stderr, "ampgate-sim modbus: --listen %s: not HOST:PORT\n", optarg);
				return 2;
			}
			break;
		case 'f':
			if (parse_faults(&s, optarg) < 0) {
				fprintf(stderr, "ampgate-sim modbus: --faults %s: want KIND:UNIT[,...], KIND one of "
						"timeout exception garbage freeze, UNIT 1..4\n", optarg);
				return 2;
			}
			break;
		case 'a': s.faults_from_ms = (uint64_t)atoll(optarg); break;
		case 'q': s.quiet = true; break;
		case 'e': s.ev_draw = optarg; break;
		case 'c': s.control = optarg; break;
		case 's': soc = atof(optarg); break;
		case 'E': bat_kwh = atof(optarg); break;
		case 'P': bat_kw = atof(optarg); break;
		case 'v':
			if (pv_profile_read(optarg, "ampgate-sim modbus: --pv-profile", &s.pv, stderr) < 0)
				return 2;
			break;
		case 't':
			if (s.trace)
				fclose(s.trace);
			if (!(s.trace = fopen(optarg, "w"))) {
				fprintf(stderr, "ampgate-sim modbus: --trace %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	s.faults_from_ms += now_ms();
	s.started_ms = now_ms();
	if (!(soc >= 0 && soc <= 100) || !(bat_kwh > 0 && bat_kwh < 10000) || !(bat_kw > 0 && bat_kw < 600)) {
		fprintf(stderr, "ampgate-sim modbus: --soc 0..100, --battery-kwh 0..10000, --battery-kw 0..600\n");
		return 2;
	}
	sim_model_init(&s.site, 12345, now_ms());
	s.site.v.bat_soc_pct = soc;
	s.site.bat_capacity_wh = bat_kwh * 1000;
	s.site.bat_max_w = bat_kw * 1000;
	for (int u = 1; u < N_UNITS; u++) {
		s.units[u].map = modbus_mapping_new_start_address(0, 0, 0, 0, SS_BASE, SS_REGS, 0, IN_REGS);
		if (!s.units[u].map) {
			fprintf(stderr, "ampgate-sim modbus: out of memory\n");
			return 1;
		}
	}
	layout(&s);
	refresh(&s, now_ms());

	snprintf(port, sizeof(port), "%d", hp.port);
	modbus_t *ctx = modbus_new_tcp_pi(hp.host[0] ? hp.host : "0.0.0.0", port);
	int server_fd = ctx ? modbus_tcp_pi_listen(ctx, 16) : -1;
	if (server_fd < 0) {
		fprintf(stderr, "ampgate-sim modbus: cannot listen on %s:%d: %s\n", hp.host, hp.port, modbus_strerror(errno));
		rc = 1;
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char h[64] = "?";
		int p = hp.port;
		if (getsockname(server_fd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *in = (struct sockaddr_in *)&ss;
				inet_ntop(AF_INET, &in->sin_addr, h, sizeof(h));
				p = ntohs(in->sin_port);
			} else if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
				inet_ntop(AF_INET6, &in6->sin6_addr, h, sizeof(h));
				p = ntohs(in6->sin6_port);
			}
		}
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		signal(SIGPIPE, SIG_IGN);
		printf("listening on %s:%d\n", h, p);
		fflush(stdout);
		rc = serve(&s, ctx, server_fd) < 0 ? 1 : 0;
		close(server_fd);
	}
	if (ctx)
		modbus_free(ctx);
	for (int u = 1; u < N_UNITS; u++)
		modbus_mapping_free(s.units[u].map);
	if (s.trace)
		fclose(s.trace);
	pv_profile_fini(&s.pv);
	return rc;
}
