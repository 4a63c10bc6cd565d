/*
 * Launch tokens: ES256 compact JWS verified with libjwt (OpenSSL), claims checked
 * as include/mcr/launch.h orders, single-use jti kept behind lib/jti_backend.h.
 */
#include "mcr/launch.h"
#include "jti_backend.h"
#include "mcr/error.h"
#include "mcr/buf.h"
#include "mcr/fs.h"
#include "mcr/nhs.h"

#include <errno.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keys ----------------------------------------------------------------- */

typedef struct launcher_key {
	const mcr_launcher *launcher;
	unsigned char *pem;
	size_t len;
} launcher_key;

struct mcr_launch_keys {
	launcher_key *keys;
	size_t n;
};

void mcr_launch_keys_free(mcr_launch_keys *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		free(k->keys[i].pem);
	free(k->keys);
	free(k);
}

int mcr_launch_read_key(const char *path, unsigned char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return mcr_error_set_errno(MCR_ECONFIG, "cannot read key %s", path);
	unsigned char *buf = malloc(16385);
	size_t n = buf ? fread(buf, 1, 16384, f) : 0;
	int bad = ferror(f) || !feof(f);
	fclose(f);
	if (!buf)
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", path);
	if (bad || n == 0) {
		free(buf);
		return mcr_error_set(MCR_ECONFIG, "key %s: empty, unreadable or larger than 16 KiB", path);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* The PEM must hold a P-256 public key: what ES256 verifies with. */
static int check_p256(const launcher_key *k)
{
	BIO *bio = BIO_new_mem_buf(k->pem, (int)k->len);
	EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	int ok = 0;
	if (pk && EVP_PKEY_base_id(pk) == EVP_PKEY_EC) {
		char group[64] = "";
		size_t glen = 0;
		ok = EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group), &glen) == 1 &&
		     strcmp(group, "prime256v1") == 0;
	}
	EVP_PKEY_free(pk);
	BIO_free(bio);
	if (!ok)
		return mcr_error_set(MCR_ECONFIG, "launcher %s: public key %s is not a PEM P-256 (ES256) public key",
		                     k->launcher->id, k->launcher->public_key);
	return 0;
}

int mcr_launch_keys_load(const mcr_config *cfg, mcr_launch_keys **out)
{
	mcr_launch_keys *k = calloc(1, sizeof(*k));
	int rc = 0;
	*out = NULL;
	if (!k || (cfg->web.nlaunchers && !(k->keys = calloc(cfg->web.nlaunchers, sizeof(*k->keys))))) {
		free(k);
		return mcr_error_set(MCR_ENOMEM, "out of memory reading launcher keys");
	}
	for (size_t i = 0; i < cfg->web.nlaunchers && !rc; i++) {
		launcher_key *e = &k->keys[i];
		e->launcher = &cfg->web.launchers[i];
		k->n = i + 1;
		if (!(rc = mcr_launch_read_key(e->launcher->public_key, &e->pem, &e->len)))
			rc = check_p256(e);
	}
	if (rc) {
		mcr_launch_keys_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

static const launcher_key *find_key(const mcr_launch_keys *k, const char *iss)
{
	for (size_t i = 0; iss && i < k->n; i++)
		if (strcmp(k->keys[i].launcher->id, iss) == 0)
			return &k->keys[i];
	return NULL;
}

/* ---- the jti store (lib/jti_backend.h) ----------------------------------------- */

struct mcr_jti_store {
	jti_backend *b;
	pthread_mutex_t lock; /* one claim at a time on the backend's connection */
};

static int wrap_jti(jti_backend *b, mcr_jti_store **out)
{
	mcr_jti_store *s = calloc(1, sizeof(*s));
	if (!s) {
		b->ops->close(b);
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the launch store");
	}
	s->b = b;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

int mcr_jti_open(mcr_jti_store **out, const char *dir)
{
	jti_backend *b = NULL;
	*out = NULL;
	int rc = jti_sqlite_open(dir, &b);
	return rc ? rc : wrap_jti(b, out);
}

int mcr_jti_open_config(mcr_jti_store **out, const mcr_config *cfg)
{
	if (cfg->backend != MCR_BACKEND_POSTGRESQL)
		return mcr_jti_open(out, cfg->web.state_dir);
	jti_backend *b = NULL;
	*out = NULL;
	int rc = jti_pg_open(cfg, &b);
	return rc ? rc : wrap_jti(b, out);
}

void mcr_jti_close(mcr_jti_store *s)
{
	if (!s)
		return;
	s->b->ops->close(s->b);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int mcr_jti_claim(mcr_jti_store *s, const char *iss, const char *jti, long long expires,
                  long long now)
{
	pthread_mutex_lock(&s->lock);
	int rc = s->b->ops->claim(s->b, iss, jti, expires, now);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- verification ----------------------------------------------------------- */

static const struct {
	const char *code, *text;
} reasons[] = {
	[MCR_LAUNCH_OK] = {"ok", "launched"},
	[MCR_LAUNCH_MALFORMED] = {"malformed", "the launch link is not a valid launch token"},
	[MCR_LAUNCH_ALG] = {"algorithm", "the launch token is not signed with ES256"},
	[MCR_LAUNCH_UNKNOWN_LAUNCHER] = {"unknown-launcher", "the launch token comes from an unknown host system"},
	[MCR_LAUNCH_SIGNATURE] = {"bad-signature", "the launch token's signature is not valid"},
	[MCR_LAUNCH_CLAIMS] = {"bad-claims", "the launch token is missing a claim or has a malformed one"},
	[MCR_LAUNCH_EXPIRED] = {"expired", "the launch link has expired: open the record again from your system"},
	[MCR_LAUNCH_NOT_YET_VALID] = {"not-yet-valid", "the launch token is not valid yet: check the host system's clock"},
	[MCR_LAUNCH_TOO_LONG] = {"lifetime", "the launch token is valid for longer than 300 seconds"},
	[MCR_LAUNCH_ORG] = {"organisation", "the organisation is not allowed for this host system"},
	[MCR_LAUNCH_ROLE] = {"role", "the role is not configured for this service"},
	[MCR_LAUNCH_REPLAYED] = {"replayed", "the launch link has already been used: open the record again from your system"},
};

const char *mcr_launch_reason_text(mcr_launch_reason r)
{
	return (unsigned)r < sizeof(reasons) / sizeof(reasons[0]) ? reasons[r].text : "launch refused";
}

const char *mcr_launch_reason_code(mcr_launch_reason r)
{
	return (unsigned)r < sizeof(reasons) / sizeof(reasons[0]) ? reasons[r].code : "refused";
}

/* Exactly three base64url segments, header and payload non-empty. */
static int compact_form(const char *t)
{
	size_t dots = 0, seg = 0, n = strlen(t);
	if (n == 0 || n > MCR_LAUNCH_MAX_TOKEN)
		return 0;
	for (const char *p = t; *p; p++) {
		if (*p == '.') {
			if (seg == 0 && dots < 2)
				return 0;
			dots++;
			seg = 0;
		} else if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		           (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') {
			seg++;
		} else {
			return 0;
		}
	}
	return dots == 2;
}

/* Printable ASCII without spaces, 1 to max bytes, copied into out. */
static int token_text(const char *v, char *out, size_t max)
{
	size_t n = v ? strlen(v) : 0;
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			return 0;
	memcpy(out, v, n + 1);
	return 1;
}

/* An integer claim (JSON number without fraction). 0 when absent or not one. */
static int int_claim(jwt_t *j, const char *name, long long *out)
{
	char *js = jwt_get_grants_json(j, name);
	int ok = 0;
	if (js) {
		char *end = NULL;
		errno = 0;
		long long v = strtoll(js, &end, 10);
		ok = errno == 0 && end != js && *end == '\0' && v > 0;
		if (ok)
			*out = v;
		free(js);
	}
	return ok;
}

static int claims(jwt_t *j, mcr_launch_claims *c)
{
	const char *purpose = jwt_get_grant(j, "purpose");
	const char *nhs = jwt_get_grant(j, "nhs");
	char *nhs_json = jwt_get_grants_json(j, "nhs");
	int has_nhs = nhs_json != NULL;
	free(nhs_json);
	if (!token_text(jwt_get_grant(j, "sub"), c->sub, sizeof(c->sub) - 1) ||
	    !token_text(jwt_get_grant(j, "org"), c->org, sizeof(c->org) - 1) ||
	    !token_text(jwt_get_grant(j, "role"), c->role, sizeof(c->role) - 1) ||
	    !token_text(jwt_get_grant(j, "jti"), c->jti, sizeof(c->jti) - 1) || !purpose)
		return 0;
	for (const char *p = c->org; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return 0;
	if (strlen(c->org) < 3)
		return 0;
	if (strcmp(purpose, "care") == 0) {
		c->purpose = MCR_PURPOSE_CARE;
		if (!nhs || strlen(nhs) != 10 || mcr_nhs_validate(nhs, c->nhs) != 0)
			return 0;
	} else if (strcmp(purpose, "ig") == 0) {
		c->purpose = MCR_PURPOSE_IG;
		if (has_nhs)
			return 0; /* IG work is about no one person */
	} else {
		return 0;
	}
	if (!int_claim(j, "iat", &c->iat) || !int_claim(j, "exp", &c->exp))
		return 0;
	char *nbf = jwt_get_grants_json(j, "nbf");
	int nbf_ok = !nbf || int_claim(j, "nbf", &c->nbf);
	free(nbf);
	return nbf_ok;
}

int mcr_launch_verify(const mcr_config *cfg, const mcr_launch_keys *keys, mcr_jti_store *jti,
                      const char *token, long long now, mcr_launch_claims *out,
                      mcr_launch_reason *reason)
{
	jwt_t *unv = NULL, *ver = NULL;
	mcr_launch_reason why = MCR_LAUNCH_OK;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!token || !compact_form(token)) {
		why = MCR_LAUNCH_MALFORMED;
		goto out;
	}
	/* Read the header without a key: libjwt then checks no signature (and
	 * reports alg none), and nothing of this object is trusted beyond choosing
	 * how to verify. The header's alg is compared case-sensitively: libjwt's
	 * own name lookup ignores case. */
	if (jwt_decode(&unv, token, NULL, 0) != 0 || !unv) {
		why = MCR_LAUNCH_MALFORMED;
		goto out;
	}
	const char *alg = jwt_get_header(unv, "alg");
	if (!alg || strcmp(alg, "ES256") != 0) {
		why = MCR_LAUNCH_ALG;
		goto out;
	}
	if (!token_text(jwt_get_grant(unv, "iss"), out->iss, sizeof(out->iss) - 1)) {
		why = MCR_LAUNCH_UNKNOWN_LAUNCHER;
		goto out;
	}
	const launcher_key *k = find_key(keys, out->iss);
	const mcr_launcher *l = mcr_config_launcher(cfg, out->iss);
	if (!k || !l) {
		why = MCR_LAUNCH_UNKNOWN_LAUNCHER;
		goto out;
	}
	if (jwt_decode(&ver, token, k->pem, (int)k->len) != 0 || !ver ||
	    jwt_get_alg(ver) != JWT_ALG_ES256) {
		why = MCR_LAUNCH_SIGNATURE;
		goto out;
	}
	const char *iss = jwt_get_grant(ver, "iss");
	if (!iss || strcmp(iss, out->iss) != 0) {
		why = MCR_LAUNCH_SIGNATURE;
		goto out;
	}
	out->verified = 1;
	if (!claims(ver, out)) {
		why = MCR_LAUNCH_CLAIMS;
		goto out;
	}
	if (out->exp <= out->iat) {
		why = MCR_LAUNCH_CLAIMS;
	} else if (out->exp - out->iat > MCR_LAUNCH_MAX_LIFE) {
		why = MCR_LAUNCH_TOO_LONG;
	} else if (now >= out->exp + MCR_LAUNCH_SKEW) {
		why = MCR_LAUNCH_EXPIRED;
	} else if (out->iat > now + MCR_LAUNCH_SKEW || out->nbf > now + MCR_LAUNCH_SKEW) {
		why = MCR_LAUNCH_NOT_YET_VALID;
	} else if (!mcr_config_code_in(&l->orgs, out->org) ||
	           (out->purpose == MCR_PURPOSE_CARE && !mcr_config_org(cfg, out->org))) {
		why = MCR_LAUNCH_ORG;
	} else if (out->purpose == MCR_PURPOSE_CARE ? !mcr_config_role(cfg, out->role)
	                                            : !mcr_config_code_in(&cfg->web.ig_roles, out->role)) {
		why = MCR_LAUNCH_ROLE;
	} else {
		int r = mcr_jti_claim(jti, out->iss, out->jti, out->exp + MCR_LAUNCH_SKEW, now);
		if (r == MCR_EDENIED)
			why = MCR_LAUNCH_REPLAYED;
		else if (r)
			rc = r;
	}
out:
	jwt_free(unv);
	jwt_free(ver);
	*reason = why;
	if (!rc && why != MCR_LAUNCH_OK)
		rc = mcr_error_set(MCR_EDENIED, "launch refused: %s", mcr_launch_reason_code(why));
	return rc;
}

/* ---- signing (mcr-launch, tests) --------------------------------------------- */

int mcr_launch_sign(const mcr_launch_claims *c, const unsigned char *key, size_t len, char **out)
{
	jwt_t *j = NULL;
	int rc = 0;
	*out = NULL;
	if (jwt_new(&j) != 0)
		return mcr_error_set(MCR_ENOMEM, "out of memory signing a launch token");
	if (jwt_add_grant(j, "iss", c->iss) || jwt_add_grant(j, "sub", c->sub) ||
	    jwt_add_grant(j, "org", c->org) || jwt_add_grant(j, "role", c->role) ||
	    jwt_add_grant(j, "purpose", c->purpose == MCR_PURPOSE_IG ? "ig" : "care") ||
	    jwt_add_grant(j, "jti", c->jti) || (c->nhs[0] && jwt_add_grant(j, "nhs", c->nhs)) ||
	    jwt_add_grant_int(j, "iat", (long)c->iat) || jwt_add_grant_int(j, "exp", (long)c->exp) ||
	    (c->nbf && jwt_add_grant_int(j, "nbf", (long)c->nbf))) {
		rc = mcr_error_set(MCR_EUSAGE, "cannot set the token's claims (an empty value?)");
		goto out;
	}
	if (jwt_set_alg(j, JWT_ALG_ES256, key, (int)len) != 0) {
		rc = mcr_error_set(MCR_EUSAGE, "cannot use the signing key");
		goto out;
	}
	if (!(*out = jwt_encode_str(j)))
		rc = mcr_error_set(MCR_EUSAGE, "cannot sign: is the key a PEM P-256 private key?");
out:
	jwt_free(j);
	return rc;
}
