/* Password hashes and HTTP Basic credentials.
 *
 * Hashes are PBKDF2-HMAC-SHA256 from OpenSSL in the form $pbkdf2-sha256$<iterations>$<salt>$<key>
 * (base64). The iteration count travels in the hash, so web users (a person's password: many
 * iterations) and chargers (16-40 random characters, verified on every reconnect: few) share one
 * scheme with different costs. */
#ifndef AG_PASSWD_H
#define AG_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWD_HASH_MAX 160
#define PASSWD_ITER_WEB 600000   /* OWASP's PBKDF2-SHA256 figure for people's passwords */
#define PASSWD_ITER_CHARGER 2000 /* high-entropy secrets, checked in reconnect storms */

/* Hash `password` with a fresh random salt into `out`. 0 or -errno. */
int passwd_hash(const char *password, int iterations, char *out, size_t size);
/* True when `password` matches `hash` (constant-time compare). A malformed hash never matches. */
bool passwd_verify(const char *password, const char *hash);
/* The iteration count of a well-formed hash, -EINVAL when `hash` is none (then nothing verifies). */
int passwd_iterations(const char *hash);
/* Split "Basic <base64(user:pass)>" into `user` and `pass`. 0 or -EINVAL. */
int basic_auth_decode(const char *header, char *user, size_t user_size, char *pass, size_t pass_size);
/* "Basic <base64(user:pass)>" into `out`. 0 or -ENOSPC. */
int basic_auth_encode(const char *user, const char *pass, char *out, size_t size);

#endif
