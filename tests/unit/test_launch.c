/* Launch tokens: every refusal of include/mcr/launch.h, the alg-confusion
 * attacks on libjwt 1.x, jti replay across a reopen, and a random-mutation
 * property (no mutated token is ever accepted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/launch.h"

#define TMPDIR_NAME "test_launch"
#include "test_tmpdir.h"

#define NOW 1800000000LL

static mcr_config *cfg;
static mcr_launch_keys *keys;
static mcr_jti_store *jti;
static unsigned char priv[8192], pub[8192], other[8192];
static size_t privlen, publen, otherlen;
static char path[256];

static void write_file(const char *name, const void *data, size_t len)
{
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* A fresh P-256 key pair as PEM. */
static void make_key(unsigned char *privpem, size_t *plen, unsigned char *pubpem, size_t *qlen)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	*plen = (size_t)BIO_read(b, privpem, 8191);
	privpem[*plen] = '\0';
	BIO_free(b);
	if (pubpem) {
		b = BIO_new(BIO_s_mem());
		assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
		*qlen = (size_t)BIO_read(b, pubpem, 8191);
		pubpem[*qlen] = '\0';
		BIO_free(b);
	}
	EVP_PKEY_free(k);
}

static int setup(void **state)
{
	if (tmpdir_setup(state))
		return -1;
	size_t dummy;
	make_key(priv, &privlen, pub, &publen);
	make_key(other, &otherlen, NULL, &dummy);
	write_file("lcs.pub.pem", pub, publen);
	static const char yaml[] =
		"region: Test\n"
		"paths: {staging: staging, store: store, audit: audit.sqlite}\n"
		"organisations:\n"
		"  - {ods: A81001, name: Riverside Surgery, kind: gp}\n"
		"  - {ods: X99LCS, name: County Social Care, kind: lcs}\n"
		"policy:\n"
		"  roles: {clinician: [allergies], social-worker: [social-care]}\n"
		"web:\n"
		"  ig_roles: [ig]\n"
		"  launchers:\n"
		"    - {id: lcs, public_key: lcs.pub.pem, organisations: [X99LCS, A81001, Q99IGT]}\n";
	write_file("mcr.yaml", yaml, sizeof(yaml) - 1);
	if (mcr_config_load(&cfg, path) || mcr_launch_keys_load(cfg, &keys))
		return -1;
	snprintf(path, sizeof(path), "%s/web", tmpdir);
	return mcr_jti_open(&jti, path);
}

static int teardown(void **state)
{
	mcr_jti_close(jti);
	mcr_launch_keys_free(keys);
	mcr_config_free(cfg);
	return tmpdir_teardown(state);
}

static int serial;

/* Good claims at NOW with a fresh jti. */
static mcr_launch_claims good(void)
{
	mcr_launch_claims c;
	memset(&c, 0, sizeof(c));
	snprintf(c.iss, sizeof(c.iss), "lcs");
	snprintf(c.sub, sizeof(c.sub), "jsmith");
	snprintf(c.org, sizeof(c.org), "X99LCS");
	snprintf(c.role, sizeof(c.role), "social-worker");
	snprintf(c.nhs, sizeof(c.nhs), "9990000018");
	snprintf(c.jti, sizeof(c.jti), "jti-%d", ++serial);
	c.purpose = MCR_PURPOSE_CARE;
	c.iat = NOW - 10;
	c.exp = NOW + 110;
	return c;
}

static char *sign(const mcr_launch_claims *c)
{
	char *t = NULL;
	assert_int_equal(mcr_launch_sign(c, priv, privlen, &t), 0);
	return t;
}

static mcr_launch_reason verify_at(const char *token, long long now, mcr_launch_claims *out)
{
	mcr_launch_reason why = MCR_LAUNCH_OK;
	int rc = mcr_launch_verify(cfg, keys, jti, token, now, out, &why);
	assert_int_equal(rc, why == MCR_LAUNCH_OK ? 0 : MCR_EDENIED);
	return why;
}

static mcr_launch_reason verify_claims(const mcr_launch_claims *c)
{
	mcr_launch_claims out;
	char *t = sign(c);
	mcr_launch_reason why = verify_at(t, NOW, &out);
	free(t);
	return why;
}

static void test_good(void **state)
{
	(void)state;
	mcr_launch_claims c = good(), out;
	char *t = sign(&c);
	assert_int_equal(verify_at(t, NOW, &out), MCR_LAUNCH_OK);
	assert_true(out.verified);
	assert_string_equal(out.sub, "jsmith");
	assert_string_equal(out.org, "X99LCS");
	assert_string_equal(out.role, "social-worker");
	assert_string_equal(out.nhs, "9990000018");
	assert_int_equal(out.purpose, MCR_PURPOSE_CARE);
	/* The same token again: single use. */
	assert_int_equal(verify_at(t, NOW + 1, &out), MCR_LAUNCH_REPLAYED);
	free(t);

	c = good();
	c.purpose = MCR_PURPOSE_IG;
	c.nhs[0] = '\0';
	snprintf(c.role, sizeof(c.role), "ig");
	snprintf(c.org, sizeof(c.org), "Q99IGT"); /* IG needs no data organisation */
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_OK);
}

static void test_times(void **state)
{
	(void)state;
	mcr_launch_claims c = good();
	c.iat = NOW - 400;
	c.exp = NOW - 100;
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_EXPIRED);
	c = good();
	c.exp = NOW - 29; /* within the skew */
	c.iat = NOW - 100;
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_OK);
	c = good();
	c.exp = NOW - 30;
	c.iat = NOW - 100;
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_EXPIRED);
	c = good();
	c.iat = NOW + 60;
	c.exp = NOW + 120;
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_NOT_YET_VALID);
	c = good();
	c.nbf = NOW + 31;
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_NOT_YET_VALID);
	c = good();
	c.iat = NOW;
	c.exp = NOW + 301;
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_TOO_LONG);
	c = good();
	c.iat = NOW;
	c.exp = NOW + 300;
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_OK);
	c = good();
	c.exp = c.iat;
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_CLAIMS);
}

static void test_who(void **state)
{
	(void)state;
	mcr_launch_claims c = good();
	snprintf(c.org, sizeof(c.org), "B82002"); /* not this launcher's */
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_ORG);
	c = good();
	snprintf(c.org, sizeof(c.org), "Q99IGT"); /* allowed, but not a care organisation */
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_ORG);
	c = good();
	snprintf(c.role, sizeof(c.role), "receptionist");
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_ROLE);
	c = good();
	snprintf(c.role, sizeof(c.role), "ig"); /* an IG role is not a care role */
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_ROLE);
	c = good();
	snprintf(c.iss, sizeof(c.iss), "gp-system");
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_UNKNOWN_LAUNCHER);
	c = good();
	snprintf(c.nhs, sizeof(c.nhs), "9990000019"); /* check digit */
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_CLAIMS);
	c = good();
	c.nhs[0] = '\0'; /* care without a person */
	assert_int_equal(verify_claims(&c), MCR_LAUNCH_CLAIMS);
}

/* Tokens made with libjwt directly: what a hostile host could send. */
static char *raw_token(jwt_alg_t alg, const unsigned char *k, size_t klen, const char *extra_claim)
{
	jwt_t *j = NULL;
	assert_int_equal(jwt_new(&j), 0);
	mcr_launch_claims c = good();
	jwt_add_grant(j, "iss", c.iss);
	jwt_add_grant(j, "sub", c.sub);
	jwt_add_grant(j, "org", c.org);
	jwt_add_grant(j, "role", c.role);
	jwt_add_grant(j, "purpose", "care");
	jwt_add_grant(j, "nhs", c.nhs);
	jwt_add_grant(j, "jti", c.jti);
	if (extra_claim && strcmp(extra_claim, "iat-string") == 0)
		jwt_add_grant(j, "iat", "1799999990");
	else
		jwt_add_grant_int(j, "iat", (long)c.iat);
	jwt_add_grant_int(j, "exp", (long)c.exp);
	assert_int_equal(jwt_set_alg(j, alg, k, (int)klen), 0);
	char *t = jwt_encode_str(j);
	jwt_free(j);
	assert_non_null(t);
	return t;
}

static void test_algorithms(void **state)
{
	(void)state;
	mcr_launch_claims out;
	/* HS256 keyed with the launcher's public key: libjwt alone accepts this. */
	char *t = raw_token(JWT_ALG_HS256, pub, publen, NULL);
	assert_int_equal(verify_at(t, NOW, &out), MCR_LAUNCH_ALG);
	assert_false(out.verified);
	free(t);
	t = raw_token(JWT_ALG_NONE, NULL, 0, NULL);
	assert_int_equal(verify_at(t, NOW, &out), MCR_LAUNCH_ALG);
	assert_false(out.verified);
	free(t);
	/* ES256 by another key. */
	t = raw_token(JWT_ALG_ES256, other, otherlen, NULL);
	assert_int_equal(verify_at(t, NOW, &out), MCR_LAUNCH_SIGNATURE);
	assert_false(out.verified);
	assert_string_equal(out.sub, ""); /* nothing of an unverified token */
	free(t);
	/* A claim of the wrong type. */
	t = raw_token(JWT_ALG_ES256, priv, privlen, "iat-string");
	assert_int_equal(verify_at(t, NOW, &out), MCR_LAUNCH_CLAIMS);
	free(t);
	/* One changed character in the signature. */
	mcr_launch_claims c = good();
	t = sign(&c);
	size_t n = strlen(t);
	t[n - 3] = t[n - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_at(t, NOW, &out), MCR_LAUNCH_SIGNATURE);
	free(t);
	assert_int_equal(verify_at("", NOW, &out), MCR_LAUNCH_MALFORMED);
	assert_int_equal(verify_at("a.b", NOW, &out), MCR_LAUNCH_MALFORMED);
	assert_int_equal(verify_at("a.b.c.d", NOW, &out), MCR_LAUNCH_MALFORMED);
	assert_int_equal(verify_at("a b.c.d", NOW, &out), MCR_LAUNCH_MALFORMED);
	assert_int_equal(verify_at("..", NOW, &out), MCR_LAUNCH_MALFORMED);
}

/* Property: flipping, deleting or inserting any one character of a good token
 * never yields an accepted launch (seeded, so a failure repeats). */
static void test_mutations(void **state)
{
	(void)state;
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
	srand(20261128);
	for (int round = 0; round < 300; round++) {
		mcr_launch_claims c = good(), out;
		char *t = sign(&c);
		size_t n = strlen(t), at = (size_t)rand() % n;
		char *m = malloc(n + 2);
		assert_non_null(m);
		int kind = rand() % 3;
		char ch = alphabet[(size_t)rand() % (sizeof(alphabet) - 1)];
		if (kind == 0) { /* replace */
			memcpy(m, t, n + 1);
			if (m[at] == ch)
				ch = ch == 'A' ? 'B' : 'A';
			m[at] = ch;
		} else if (kind == 1) { /* delete */
			memcpy(m, t, at);
			memcpy(m + at, t + at + 1, n - at);
		} else { /* insert */
			memcpy(m, t, at);
			m[at] = ch;
			memcpy(m + at + 1, t + at, n - at + 1);
		}
		mcr_launch_reason why = verify_at(m, NOW, &out);
		/* Base64url has slack bits in a segment's last character: a change
		 * there can decode to the same bytes, and that is the same token. */
		if (why == MCR_LAUNCH_OK) {
			assert_int_equal(kind, 0);
			assert_string_equal(out.jti, c.jti);
		}
		free(m);
		free(t);
	}
}

/* The jti store keeps a token's id across a reopen (a restart), until expiry. */
static void test_replay_after_reopen(void **state)
{
	(void)state;
	mcr_launch_claims c = good(), out;
	char *t = sign(&c);
	assert_int_equal(verify_at(t, NOW, &out), MCR_LAUNCH_OK);
	mcr_jti_close(jti);
	jti = NULL;
	snprintf(path, sizeof(path), "%s/web", tmpdir);
	assert_int_equal(mcr_jti_open(&jti, path), 0);
	assert_int_equal(verify_at(t, NOW + 5, &out), MCR_LAUNCH_REPLAYED);
	free(t);
	/* Expired ids are dropped: the same id may come back once the first expired. */
	assert_int_equal(mcr_jti_claim(jti, "lcs", "x", NOW + 10, NOW), 0);
	assert_int_equal(mcr_jti_claim(jti, "lcs", "x", NOW + 20, NOW + 5), MCR_EDENIED);
	assert_int_equal(mcr_jti_claim(jti, "other", "x", NOW + 20, NOW + 5), 0);
	assert_int_equal(mcr_jti_claim(jti, "lcs", "x", NOW + 40, NOW + 11), 0);
}

static void test_bad_key(void **state)
{
	(void)state;
	static const char yaml_text[] =
		"region: Test\npaths: {staging: s, store: s, audit: a}\norganisations: []\n"
		"policy: {roles: {clinician: [allergies]}}\n"
		"web: {launchers: [{id: x, public_key: lcs.priv.pem, organisations: [A81001]}]}\n";
	write_file("bad.yaml", yaml_text, sizeof(yaml_text) - 1);
	mcr_config *c2 = NULL;
	mcr_launch_keys *k2 = NULL;
	char yaml[256];
	snprintf(yaml, sizeof(yaml), "%s", path);
	write_file("lcs.priv.pem", priv, privlen); /* a private key is not a public key */
	assert_int_equal(mcr_config_load(&c2, yaml), 0);
	assert_int_equal(mcr_launch_keys_load(c2, &k2), MCR_ECONFIG);
	assert_non_null(strstr(mcr_error_message(), "launcher x: public key"));
	assert_null(k2);
	mcr_config_free(c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_who),
		cmocka_unit_test(test_algorithms),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_replay_after_reopen),
		cmocka_unit_test(test_bad_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
