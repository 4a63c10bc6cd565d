/* Sealed scratch streams (seal.h): AES-256-GCM in chunks under a per-stream key. */
#include "seal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mcr/error.h"

/* MCR_SEAL_CHUNK: large enough that the per-chunk cost (a nonce set-up, a tag,
 * one write) is noise, small enough to stay in the cache. */
#define CHUNK MCR_SEAL_CHUNK
#define HEAD MCR_SEAL_HEAD
#define TAG MCR_SEAL_TAG
#define LAST 1u

struct mcr_seal {
	int fd;
	int reading;        /* after mcr_seal_rewind */
	int last;           /* reading: the chunk in buf is the last one */
	uint64_t chunk;     /* number of the next chunk written or read: its nonce */
	EVP_CIPHER_CTX *ctx;
	unsigned char key[32];
	unsigned char *buf; /* one chunk as on disk: HEAD, text, TAG */
	size_t len;         /* plaintext bytes in buf + HEAD */
	size_t pos;         /* reading: the next of them */
};

int mcr_seal_open(mcr_seal **out, int fd)
{
	*out = NULL;
	mcr_seal *s = calloc(1, sizeof *s);
	if (!s || !(s->buf = malloc(HEAD + CHUNK + TAG)) || !(s->ctx = EVP_CIPHER_CTX_new())) {
		mcr_seal_close(s);
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	}
	s->fd = fd;
	if (RAND_priv_bytes(s->key, sizeof s->key) != 1 ||
	    EVP_EncryptInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, s->key, NULL) != 1) {
		mcr_seal_close(s);
		return mcr_error_set(MCR_EIO, "cannot make a key for the scratch file (OpenSSL)");
	}
	*out = s;
	return 0;
}

void mcr_seal_close(mcr_seal *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s->key, sizeof s->key);
	if (s->buf)
		OPENSSL_cleanse(s->buf, HEAD + CHUNK + TAG);
	free(s->buf);
	EVP_CIPHER_CTX_free(s->ctx); /* wipes the key schedule */
	free(s);
}

static void nonce(const mcr_seal *s, unsigned char iv[12])
{
	memset(iv, 0, 12);
	for (int i = 0; i < 8; i++)
		iv[i] = (unsigned char)(s->chunk >> (8 * i));
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return mcr_error_set_errno(MCR_EIO, "cannot write the scratch file");
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Bytes read, fewer than n only at the end of the file; -1 on an error (message set). */
static ssize_t read_full(int fd, unsigned char *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, p + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return mcr_error_set_errno(MCR_EIO, "cannot read the scratch file");
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* Encrypt the buffered text as chunk s->chunk and append it to the file. */
static int seal_chunk(mcr_seal *s, uint32_t flags)
{
	unsigned char iv[12], *text = s->buf + HEAD;
	int n = 0;
	nonce(s, iv);
	put32(s->buf, (uint32_t)s->len);
	put32(s->buf + 4, flags);
	if (EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, iv) != 1 ||
	    EVP_EncryptUpdate(s->ctx, NULL, &n, s->buf, HEAD) != 1 ||
	    (s->len && EVP_EncryptUpdate(s->ctx, text, &n, text, (int)s->len) != 1) ||
	    EVP_EncryptFinal_ex(s->ctx, text + s->len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, TAG, text + s->len) != 1)
		return mcr_error_set(MCR_EIO, "cannot encrypt the scratch file (OpenSSL)");
	int rc = write_all(s->fd, s->buf, HEAD + s->len + TAG);
	s->chunk++;
	s->len = 0;
	return rc;
}

int mcr_seal_write(mcr_seal *s, const void *p, size_t n)
{
	if (s->reading)
		return mcr_error_set(MCR_ERROR, "scratch file written after it was rewound");
	const unsigned char *in = p;
	while (n) {
		size_t k = CHUNK - s->len < n ? CHUNK - s->len : n;
		memcpy(s->buf + HEAD + s->len, in, k);
		s->len += k;
		in += k;
		n -= k;
		if (s->len == CHUNK) {
			int rc = seal_chunk(s, 0);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int mcr_seal_rewind(mcr_seal *s)
{
	if (s->reading)
		return mcr_error_set(MCR_ERROR, "scratch file rewound twice");
	int rc = seal_chunk(s, LAST);
	if (rc)
		return rc;
	if (lseek(s->fd, 0, SEEK_SET) != 0)
		return mcr_error_set_errno(MCR_EIO, "cannot rewind the scratch file");
	if (EVP_DecryptInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, s->key, NULL) != 1)
		return mcr_error_set(MCR_EIO, "cannot decrypt the scratch file (OpenSSL)");
	s->reading = 1;
	s->chunk = 0;
	s->len = s->pos = 0;
	s->last = 0;
	return 0;
}

static int damaged(const mcr_seal *s, const char *why)
{
	return mcr_error_set(MCR_EFORMAT, "the scratch file is damaged: chunk %llu %s",
	                     (unsigned long long)s->chunk, why);
}

/* Read, check and decrypt the next chunk into buf. */
static int open_chunk(mcr_seal *s)
{
	unsigned char iv[12], *text = s->buf + HEAD;
	ssize_t got = read_full(s->fd, s->buf, HEAD);
	if (got < 0)
		return (int)got;
	if (got < HEAD)
		return damaged(s, "is missing (the file is truncated)");
	uint32_t len = get32(s->buf), flags = get32(s->buf + 4);
	if (len > CHUNK || (flags & ~LAST))
		return damaged(s, "has a bad header");
	if ((got = read_full(s->fd, text, len + TAG)) < 0)
		return (int)got;
	if ((size_t)got < len + TAG)
		return damaged(s, "is cut short (the file is truncated)");
	int n = 0;
	nonce(s, iv);
	if (EVP_DecryptInit_ex(s->ctx, NULL, NULL, NULL, iv) != 1 ||
	    EVP_DecryptUpdate(s->ctx, NULL, &n, s->buf, HEAD) != 1 ||
	    (len && EVP_DecryptUpdate(s->ctx, text, &n, text, (int)len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_TAG, TAG, text + len) != 1 ||
	    EVP_DecryptFinal_ex(s->ctx, text + len, &n) != 1) {
		OPENSSL_cleanse(text, len);
		return damaged(s, "fails authentication (changed on disk)");
	}
	s->chunk++;
	s->len = len;
	s->pos = 0;
	s->last = (flags & LAST) != 0;
	if (s->last) {
		unsigned char extra;
		if ((got = read_full(s->fd, &extra, 1)) < 0)
			return (int)got;
		if (got)
			return damaged(s, "is followed by data that was never written");
	}
	return 0;
}

long mcr_seal_read(mcr_seal *s, void *p, size_t n)
{
	if (!s->reading)
		return mcr_error_set(MCR_ERROR, "scratch file read before it was rewound");
	unsigned char *out = p;
	size_t done = 0;
	while (done < n) {
		if (s->pos == s->len) {
			if (s->last)
				break;
			int rc = open_chunk(s);
			if (rc)
				return rc;
			continue;
		}
		size_t k = s->len - s->pos < n - done ? s->len - s->pos : n - done;
		memcpy(out + done, s->buf + HEAD + s->pos, k);
		s->pos += k;
		done += k;
	}
	return (long)done;
}
