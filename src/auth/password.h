/*
 * Passwords: argon2id hashes in PHC string form, the rules a new password
 * must follow, and a dummy verification that makes "no such account" cost
 * what "wrong password" costs.
 */
#ifndef RG_AUTH_PASSWORD_H
#define RG_AUTH_PASSWORD_H

#include <stddef.h>

#include "common/err.h"

/* argon2id parameters. OWASP's Password Storage Cheat Sheet gives as its
 * minimum for argon2id m = 19 MiB, t = 2, p = 1; we use those memory and
 * pass counts (sign-in stays well under 100 ms on a laptop core; measured in
 * bench/RESULTS.md). Stored hashes carry their own parameters, so raising
 * these later keeps old hashes valid. */
#define RG_PASSWORD_M_KIB 19456
#define RG_PASSWORD_T 2
#define RG_PASSWORD_P 1
#define RG_PASSWORD_SALT 16
#define RG_PASSWORD_HASH 32
/* Stored hashes asking for more than this are refused (a hostile row must
 * not make verification eat the machine). */
#define RG_PASSWORD_MAX_M_KIB (256 * 1024)
#define RG_PASSWORD_MAX_T 16
#define RG_PASSWORD_MAX_P 8

/* Hashes pw into out ("$argon2id$v=19$m=...,t=...,p=...$salt$hash").
 * RG_ERANGE if out is too small (128 bytes is enough). */
int rg_password_hash(const char *pw, char *out, size_t out_size, char *err);
/* RG_OK on a match, RG_EAUTH on a mismatch, RG_EFORMAT for an encoded string
 * that is not an argon2id hash within the caps above. */
int rg_password_verify(const char *pw, const char *encoded);
/* One verification against a fixed hash with our parameters; the result is
 * thrown away. */
void rg_password_dummy_verify(const char *pw);
/* RG_OK, or RG_EINVAL with a message for people: 8 to 256 characters
 * (code points of valid UTF-8), not the email or its local part, not one of
 * the most common passwords. */
int rg_password_check_rules(const char *pw, const char *email, char *err);

#endif
