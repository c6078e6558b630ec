/* PBKDF2 password hashes and Basic credentials; see passwd.h. OpenSSL does the cryptography;
 * this file only frames it. */
#include "edge/core/passwd.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT_BYTES 16
#define KEY_BYTES 32

static int b64_decode(const char *in, unsigned char *out, size_t out_size)
{
	size_t len = strlen(in);
	unsigned char buf[512];

	if (len == 0 || len % 4 || len / 4 * 3 > sizeof(buf))
		return -EINVAL;
	int n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -EINVAL;
	n -= (in[len - 1] == '=') + (in[len - 2] == '=');
	if ((size_t)n > out_size)
		return -EINVAL;
	memcpy(out, buf, (size_t)n);
	return n;
}

int passwd_hash(const char *password, int iterations, char *out, size_t size)
{
	unsigned char salt[SALT_BYTES], key[KEY_BYTES];
	char salt64[32], key64[48];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -EIO;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), iterations, EVP_sha256(),
			      sizeof(key), key) != 1)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)key64, key, sizeof(key));
	if ((size_t)snprintf(out, size, "$pbkdf2-sha256$%d$%s$%s", iterations, salt64, key64) >= size)
		return -ENOSPC;
	return 0;
}

/* Split a hash into its iteration count, salt and key. 0 or -EINVAL when malformed. */
static int hash_parse(const char *hash, int *iterations, unsigned char salt[64], int *salt_len,
		      unsigned char want[64])
{
	char salt64[64], key64[64];

	if (sscanf(hash, "$pbkdf2-sha256$%d$%63[^$]$%63s", iterations, salt64, key64) != 3 || *iterations < 1 ||
	    *iterations > 10000000)
		return -EINVAL;
	*salt_len = b64_decode(salt64, salt, 64);
	if (*salt_len <= 0 || b64_decode(key64, want, 64) != KEY_BYTES)
		return -EINVAL;
	return 0;
}

int passwd_iterations(const char *hash)
{
	unsigned char salt[64], want[64];
	int iterations, salt_len;

	return hash_parse(hash, &iterations, salt, &salt_len, want) < 0 ? -EINVAL : iterations;
}

bool passwd_verify(const char *password, const char *hash)
{
	unsigned char salt[64], want[64], got[KEY_BYTES];
	int iterations, salt_len;

	if (hash_parse(hash, &iterations, salt, &salt_len, want) < 0)
		return false;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, salt_len, iterations, EVP_sha256(), KEY_BYTES,
			      got) != 1)
		return false;
	return CRYPTO_memcmp(got, want, KEY_BYTES) == 0;
}

int basic_auth_decode(const char *header, char *user, size_t user_size, char *pass, size_t pass_size)
{
	unsigned char plain[384];
	const char *b64;
	int n;

	if (strncasecmp(header, "Basic ", 6) != 0)
		return -EINVAL;
	for (b64 = header + 6; *b64 == ' '; b64++)
		;
	n = b64_decode(b64, plain, sizeof(plain) - 1);
	if (n < 0)
		return -EINVAL;
	plain[n] = 0;
	char *colon = memchr(plain, ':', (size_t)n);
	if (!colon || memchr(plain, 0, (size_t)n))
		return -EINVAL;
	*colon = 0;
	if (strlen((char *)plain) >= user_size || strlen(colon + 1) >= pass_size)
		return -EINVAL;
	strcpy(user, (char *)plain);
	strcpy(pass, colon + 1);
	return 0;
}

int basic_auth_encode(const char *user, const char *pass, char *out, size_t size)
{
	char plain[256];
	unsigned char b64[400];

	if ((size_t)snprintf(plain, sizeof(plain), "%s:%s", user, pass) >= sizeof(plain))
		return -ENOSPC;
	EVP_EncodeBlock(b64, (const unsigned char *)plain, (int)strlen(plain));
	if ((size_t)snprintf(out, size, "Basic %s", b64) >= size)
		return -ENOSPC;
	return 0;
}
