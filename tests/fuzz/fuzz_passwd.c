/* HTTP Basic credentials and password hashes: what a charger sends in its Authorization header
 * (basic_auth_decode, then passwd_verify against the configured hash) and the hash strings of
 * the configuration. Input: the header, '\n', a hash string.
 *
 * Properties: decoded credentials fit their buffers and the user holds no ':'; encode(decode(x))
 * decodes to the same pair; a fresh hash of a password verifies it. Hashes from the input are
 * verified only with at most 16 iterations, so a run measures parsing, not PBKDF2. */
#include "tests/fuzz/fuzz.h"
#include "edge/core/passwd.h"

#include <stdio.h>

FUZZ_DEFAULT_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *header = fuzz_str(data, size), *hash = strchr(header, '\n');
	char user[64], pass[128], again_user[64], again_pass[128], encoded[512], fresh[PASSWD_HASH_MAX];
	int iterations;

	if (hash)
		*hash++ = 0;
	if (hash && (sscanf(hash, "$pbkdf2-sha256$%d$", &iterations) != 1 || iterations <= 16))
		passwd_verify(header, hash);
	if (basic_auth_decode(header, user, sizeof(user), pass, sizeof(pass)) == 0) {
		fuzz_check(strlen(user) < sizeof(user) && strlen(pass) < sizeof(pass) && !strchr(user, ':'), "decoded sizes");
		if (basic_auth_encode(user, pass, encoded, sizeof(encoded)) == 0) {
			fuzz_check(basic_auth_decode(encoded, again_user, sizeof(again_user), again_pass, sizeof(again_pass)) == 0,
			      "an encoded pair decodes");
			fuzz_check(strcmp(user, again_user) == 0 && strcmp(pass, again_pass) == 0, "encode/decode round trip");
		}
		fuzz_check(passwd_hash(pass, 1, fresh, sizeof(fresh)) == 0 && passwd_verify(pass, fresh), "a hash verifies");
		fuzz_check(!passwd_verify("not the password", fresh) || strcmp(pass, "not the password") == 0,
		      "a hash refuses another password");
	}
	free(header);
	return 0;
}
