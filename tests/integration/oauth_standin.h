/*
 * A local stand-in for GitHub's and Apple's OAuth servers, for tests only:
 * it speaks their protocols (authorization redirect, token endpoint with
 * PKCE, GitHub's user and emails endpoints, Apple's ES256 client secret,
 * RS256 id_token and JWKS) on a loopback port, so the server's real code
 * paths run with only the host changed.
 *
 *   /github/authorize  /github/token  /github/api/user  /github/api/user/emails
 *   /apple/authorize   /apple/token   /apple/keys
 *
 * Apple answers with a form POST in real life; the stand-in redirects with
 * the code in the query instead (the server's callback takes both).
 */
#ifndef RG_TESTS_OAUTH_STANDIN_H
#define RG_TESTS_OAUTH_STANDIN_H

enum rg_standin_fault {
    RG_FAULT_NONE = 0,
    RG_FAULT_BAD_SIGNATURE, /* id_token signed with a key not in the JWKS */
    RG_FAULT_WRONG_AUD,
    RG_FAULT_WRONG_ISS,
    RG_FAULT_EXPIRED,
    RG_FAULT_WRONG_NONCE,
};

struct rg_standin_opts {
    const char *github_client_id, *github_client_secret;
    const char *apple_client_id, *apple_team_id, *apple_key_id, *apple_issuer;
    const char *apple_client_pub_pem; /* the public half of the server's ES256 key */
    const char *email, *name;         /* the profile both providers report */
};

struct rg_standin;
struct rg_standin *rg_standin_start(const struct rg_standin_opts *o);
int rg_standin_port(const struct rg_standin *s);
void rg_standin_set_fault(struct rg_standin *s, enum rg_standin_fault f);
/* The GitHub numeric id it reports (as text) and how many tokens it refused. */
int rg_standin_refusals(const struct rg_standin *s);
void rg_standin_stop(struct rg_standin *s);

#endif
