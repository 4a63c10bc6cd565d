/* mcr-launch: sign a launch token for mcr-serve as a host system would (demo,
 * tests, integrators checking their side). docs/WEB.md. */
#include <getopt.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mcr/error.h"
#include "mcr/launch.h"

#define PROG "mcr-launch"

static const struct option options[] = {
	{"key", required_argument, NULL, 'k'},
	{"iss", required_argument, NULL, 'i'},
	{"user", required_argument, NULL, 'u'},
	{"org", required_argument, NULL, 'o'},
	{"role", required_argument, NULL, 'r'},
	{"nhs", required_argument, NULL, 'n'},
	{"ig", no_argument, NULL, 'g'},
	{"iat", required_argument, NULL, 'a'},
	{"ttl", required_argument, NULL, 't'},
	{"nbf", required_argument, NULL, 'b'},
	{"jti", required_argument, NULL, 'j'},
	{"url", required_argument, NULL, 'U'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static const char usage[] =
	"Usage: " PROG " --key PEM --iss ID --user ID --org ODS --role ROLE (--nhs NUMBER | --ig)\n"
	"                  [--ttl SECONDS] [--iat EPOCH] [--nbf EPOCH] [--jti ID] [--url BASE]\n"
	"Sign a launch token for mcr-serve (ES256) as a host system does, and print it\n"
	"(or the launch link with --url).\n"
	"\n"
	"  --key PEM        the launcher's P-256 private key (PEM); its public key is in\n"
	"                   the server's config web.launchers\n"
	"  --iss ID         the launcher id (web.launchers[].id)\n"
	"  --user ID        the signed-in user (sub)\n"
	"  --org ODS        the user's organisation\n"
	"  --role ROLE      the user's role (policy.roles, or web.ig_roles with --ig)\n"
	"  --nhs NUMBER     the person on screen (purpose care)\n"
	"  --ig             information governance work (purpose ig, no person)\n"
	"  --ttl SECONDS    exp - iat, default 120 (the server refuses more than 300)\n"
	"  --iat EPOCH      issue time, default now\n"
	"  --nbf EPOCH      not before (default: none)\n"
	"  --jti ID         token id, default 128 random bits in hex (single use)\n"
	"  --url BASE       print BASE/launch?token=TOKEN instead of the token\n"
	"  --help, --version\n"
	"\n"
	"Exit: 0 printed; 1 signing failed; 2 usage error.\n";

static int number(const char *opt, const char *v, long long min, long long *out)
{
	char *end = NULL;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || n < min)
		return mcr_cli_usage_error(PROG, "--%s %s: expected a whole number of at least %lld", opt, v, min);
	*out = n;
	return 0;
}

static int copy(const char *opt, const char *v, char *out, size_t size)
{
	if (strlen(v) >= size)
		return mcr_cli_usage_error(PROG, "--%s is longer than %zu characters", opt, size - 1);
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

int main(int argc, char **argv)
{
	mcr_launch_claims c;
	const char *keyfile = NULL, *url = NULL;
	unsigned char *key = NULL;
	size_t keylen = 0;
	char *token = NULL;
	long long ttl = 120, iat = (long long)time(NULL);
	int opt, status = MCR_EXIT_OK, ig = 0;

	memset(&c, 0, sizeof(c));
	while ((opt = mcr_cli_getopt(PROG, argc, argv, options)) != -1) {
		switch (opt) {
		case 'k': keyfile = optarg; break;
		case 'i': status = copy("iss", optarg, c.iss, sizeof(c.iss)); break;
		case 'u': status = copy("user", optarg, c.sub, sizeof(c.sub)); break;
		case 'o': status = copy("org", optarg, c.org, sizeof(c.org)); break;
		case 'r': status = copy("role", optarg, c.role, sizeof(c.role)); break;
		case 'n': status = copy("nhs", optarg, c.nhs, sizeof(c.nhs)); break;
		case 'g': ig = 1; break;
		case 'a': status = number("iat", optarg, 1, &iat); break;
		case 't': status = number("ttl", optarg, 1, &ttl); break;
		case 'b': status = number("nbf", optarg, 1, &c.nbf); break;
		case 'j': status = copy("jti", optarg, c.jti, sizeof(c.jti)); break;
		case 'U': url = optarg; break;
		case 'h': fputs(usage, stdout); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(PROG); return MCR_EXIT_OK;
		default: return MCR_EXIT_USAGE;
		}
		if (status)
			return status;
	}
	if (optind < argc)
		return mcr_cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	if (!keyfile || !c.iss[0] || !c.sub[0] || !c.org[0] || !c.role[0])
		return mcr_cli_usage_error(PROG, "--key, --iss, --user, --org and --role are required");
	if (ig == !!c.nhs[0])
		return mcr_cli_usage_error(PROG, "give exactly one of --nhs NUMBER and --ig");
	c.purpose = ig ? MCR_PURPOSE_IG : MCR_PURPOSE_CARE;
	c.iat = iat;
	c.exp = iat + ttl;
	if (!c.jti[0]) {
		unsigned char r[16];
		if (RAND_bytes(r, sizeof(r)) != 1) {
			fprintf(stderr, "%s: no random bytes for the token id\n", PROG);
			return MCR_EXIT_FAILED;
		}
		for (size_t i = 0; i < sizeof(r); i++)
			snprintf(c.jti + 2 * i, 3, "%02x", r[i]);
	}
	if (mcr_launch_read_key(keyfile, &key, &keylen) || mcr_launch_sign(&c, key, keylen, &token)) {
		mcr_error_print(PROG);
		status = mcr_error_code() == MCR_EUSAGE || mcr_error_code() == MCR_ECONFIG ? MCR_EXIT_USAGE
		                                                                        : MCR_EXIT_FAILED;
		goto out;
	}
	if (url)
		printf("%s%slaunch?token=%s\n", url, url[0] && url[strlen(url) - 1] == '/' ? "" : "/", token);
	else
		printf("%s\n", token);
	if (fflush(stdout) != 0)
		status = MCR_EXIT_FAILED;
out:
	free(key);
	free(token);
	return status;
}
