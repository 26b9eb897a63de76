/* libFuzzer: arbitrary bytes as an access token and as base64url. Must never
 * crash, leak or accept a token not signed with the key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "auth/token.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = "fuzz-key-fuzz-key-fuzz-key-fuzz";
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct rg_jwt_claims c;
    char err[RG_ERR_SIZE];
    if (rg_jwt_verify(key, sizeof key, s, 1700000000, &c, err) == RG_OK) {
        /* only possible with a real signature: the fuzzer cannot forge HMAC */
        if (!c.sub[0] || !c.role[0]) abort();
    }
    uint8_t out[4096];
    long n = rg_b64url_decode(s, strlen(s), out, sizeof out);
    if (n > (long)sizeof out) abort();
    free(s);
    return 0;
}
