/*
 * libFuzzer target: mcr_launch_verify on any bytes as a launch token, against a
 * config with one launcher whose key pair is made at start. No input may be
 * accepted (that would be a forged signature); a refusal must say why with a
 * known reason, fill no identity unless the signature verified, and claims of a
 * verified token never happen without the key. The first byte chooses whether
 * the input is used raw or wrapped as header.payload.signature segments around
 * a real ES256 header, so the fuzzer also reaches the claim checks' neighbours.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/launch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static mcr_config *cfg;
static mcr_launch_keys *keys;
static mcr_jti_store *jti;

static void cleanup(void)
{
	mcr_jti_close(jti);
	mcr_launch_keys_free(keys);
	mcr_config_free(cfg);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_launch: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char path[128];
	snprintf(dir, sizeof(dir), "/tmp/fuzz_launch.%ld", (long)getpid());
	snprintf(path, sizeof(path), "mkdir -p '%s'", dir);
	if (system(path) != 0)
		abort();
	EVP_PKEY *k = EVP_EC_gen("P-256");
	snprintf(path, sizeof(path), "%s/pub.pem", dir);
	FILE *f = fopen(path, "wb");
	if (!k || !f || PEM_write_PUBKEY(f, k) != 1 || fclose(f) != 0)
		abort();
	EVP_PKEY_free(k);
	snprintf(path, sizeof(path), "%s/mcr.yaml", dir);
	f = fopen(path, "wb");
	if (!f)
		abort();
	fprintf(f, "region: Fuzz\npaths: {staging: s, store: s, audit: a}\n"
	           "organisations: [{ods: A81001, name: R, kind: gp}]\n"
	           "policy: {roles: {clinician: [allergies]}}\n"
	           "web: {ig_roles: [ig], launchers: [{id: lcs, public_key: pub.pem, organisations: [A81001]}]}\n");
	if (fclose(f) != 0 || mcr_config_load(&cfg, path) || mcr_launch_keys_load(cfg, &keys))
		abort();
	snprintf(path, sizeof(path), "%s/web", dir);
	if (mcr_jti_open(&jti, path))
		abort();
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char es256[] = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9."; /* {"alg":"ES256","typ":"JWT"} */
	if (size == 0 || size > MCR_LAUNCH_MAX_TOKEN + 64)
		return 0;
	char *token = malloc(size + sizeof(es256));
	if (!token)
		abort();
	if (data[0] & 1) {
		memcpy(token, es256, sizeof(es256) - 1);
		memcpy(token + sizeof(es256) - 1, data + 1, size - 1);
		token[sizeof(es256) - 1 + size - 1] = '\0';
	} else {
		memcpy(token, data + 1, size - 1);
		token[size - 1] = '\0';
	}
	mcr_launch_claims c;
	mcr_launch_reason why = MCR_LAUNCH_OK;
	int rc = mcr_launch_verify(cfg, keys, jti, token, 1800000000LL, &c, &why);
	if (rc == 0 || why == MCR_LAUNCH_OK)
		abort(); /* accepted without the private key */
	if (rc != MCR_EDENIED || why > MCR_LAUNCH_REPLAYED || !*mcr_launch_reason_text(why))
		abort();
	if (c.verified || c.sub[0] || c.nhs[0] || c.org[0])
		abort(); /* identity from an unverified token */
	free(token);
	return 0;
}
