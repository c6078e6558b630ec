/* What the replay unit tests share: a scratch directory for the files they write (configs,
 * sessions, loads) and reading sessions from CSV text. Include after cmocka.h and the replay
 * modules; define REPLAY_FIXTURE_DIR to the mkdtemp template first. */
#ifndef AG_TEST_REPLAY_FIXTURE_H
#define AG_TEST_REPLAY_FIXTURE_H

static char dir[] = REPLAY_FIXTURE_DIR;

static const char *write_file(const char *name, const char *text)
{
	static char path[8][256];
	static int next;
	char *p = path[next++ % 8];
	FILE *f;

	snprintf(p, 256, "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static void load_sessions(struct replay_input *in, const char *csv)
{
	struct replay_session *s;

	assert_int_equal(replay_read_sessions(write_file("s.csv", csv), in->cfg, &s, &in->n_sessions, stderr), 0);
	in->sessions = s;
}

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[300];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
