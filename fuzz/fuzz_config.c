/*
 * libFuzzer target: mcr_config_load on any file. A failure must carry a
 * "file:..." message and leave no config; a success must hold absolute paths,
 * sorted code lists that find each of their own codes, and lookups that find
 * every organisation, role and staff entry.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcr/config.h"
#include "mcr/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/tmp/fuzz_config.%ld.yaml", (long)getpid());
	atexit(cleanup);
	return 0;
}

static void check_codes(const mcr_codes *c)
{
	for (size_t i = 0; i < c->count; i++) {
		if (i && strcmp(c->codes[i - 1], c->codes[i]) > 0)
			abort();
		if (!mcr_config_code_in(c, c->codes[i]))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
	mcr_config *cfg = NULL;
	int rc = mcr_config_load(&cfg, path);
	if (rc) {
		if (cfg || strncmp(mcr_error_message(), path, strlen(path)) != 0)
			abort();
		return 0;
	}
	const char *paths[] = {cfg->staging_dir, cfg->archive_dir, cfg->quarantine_dir,
	                       cfg->store_dir, cfg->audit_path, cfg->log_path, cfg->lock_path};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (!paths[i] || paths[i][0] != '/')
			abort();
	check_codes(&cfg->objection_codes);
	check_codes(&cfg->consent_codes);
	check_codes(&cfg->sensitive_codes);
	check_codes(&cfg->clinician_roles);
	for (size_t i = 0; i < cfg->norgs; i++)
		if (mcr_config_org(cfg, cfg->orgs[i].ods) != &cfg->orgs[i])
			abort();
	for (size_t i = 0; i < cfg->nroles; i++)
		if (mcr_config_role(cfg, cfg->roles[i].name) != &cfg->roles[i])
			abort();
	for (size_t i = 0; i < cfg->nstaff; i++)
		if (mcr_config_staff(cfg, cfg->staff[i].user) != &cfg->staff[i] ||
		    strlen(cfg->staff[i].nhs) != 10)
			abort();
	if (cfg->keep_generations < 2 || cfg->archive_days < 1 || cfg->ooh_recent_days < 1)
		abort();
	mcr_config_free(cfg);
	return 0;
}
