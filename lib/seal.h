/*
 * A sealed scratch stream: bytes a process writes to a temporary file of its own
 * and reads back once, encrypted and authenticated on the way (AES-256-GCM,
 * OpenSSL libcrypto) under a random key made for the stream and held only in
 * this process's memory. The file holds no readable copy of what went through
 * (the extract's withheld content among it: DESIGN.md "Suppressed content is
 * written nowhere"), and a file changed, truncated, extended or reordered on
 * disk is an error when read, never content. The key and the buffered
 * plaintext are wiped when the stream is closed; the file is not readable by
 * any process after this one ends, even by one that kept a copy of it.
 *
 * The file is a sequence of chunks: a header (plaintext length, last-chunk flag),
 * the ciphertext, a 16-byte tag; the nonce is the chunk's number and the header
 * is authenticated with it. Write everything, mcr_seal_rewind once, then read
 * everything: a stream is never written after it is rewound (a nonce is never
 * used twice under one key). Private to libmcr; not thread-safe (one stream,
 * one thread).
 */
#ifndef MCR_SEAL_H
#define MCR_SEAL_H

#include <stddef.h>

typedef struct mcr_seal mcr_seal;

/* Plaintext bytes per chunk; on disk a chunk is MCR_SEAL_HEAD + its text + MCR_SEAL_TAG. */
#define MCR_SEAL_CHUNK ((size_t)256 << 10)
#define MCR_SEAL_HEAD 8 /* little-endian u32 plaintext length, u32 flags (1: the last chunk) */
#define MCR_SEAL_TAG 16

/* A stream over fd (open for reading and writing, empty, positioned at 0; not
 * owned: the caller closes it after mcr_seal_close). 0, MCR_ENOMEM or MCR_EIO
 * (no random key). */
int mcr_seal_open(mcr_seal **out, int fd);

/* Append n bytes. 0, or MCR_EIO (the file could not be written; message set),
 * or MCR_ERROR after mcr_seal_rewind. */
int mcr_seal_write(mcr_seal *s, const void *p, size_t n);

/* Seal the last chunk and go back to the start for reading. 0 or MCR_EIO. */
int mcr_seal_rewind(mcr_seal *s);

/* Read up to n bytes into p: the count read, fewer than n only at the end of the
 * stream; MCR_EFORMAT ("the scratch file ... is damaged") when the file is not
 * what was written, MCR_EIO when it cannot be read. */
long mcr_seal_read(mcr_seal *s, void *p, size_t n);

/* Wipe the key and buffers and free s (NULL accepted). */
void mcr_seal_close(mcr_seal *s);

#endif
