/*
 * Integration test harness: runs the real rustygpt binary (path in RG_BIN),
 * either as a server on a free loopback port or as a CLI command, and speaks
 * HTTP to it with libcurl or a raw socket.
 */
#ifndef RG_TESTS_HARNESS_H
#define RG_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct rg_server {
    pid_t pid;
    int port;
    char dir[256];      /* a fresh temp dir: data/ and models/ live here */
    char log_path[320]; /* the server's stderr */
};

/*
 * Starts `rustygpt serve --port 0 --data-dir DIR/data --models-dir DIR/models
 * ARGS...` with extra environment entries env ("NAME=value", NULL-ended; may
 * be NULL), and waits (up to 10 s) for its "listening on" line. Returns 0, or
 * -1 (the log is printed) if it exited or never got ready.
 */
int rg_server_start(struct rg_server *s, const char *const *args, const char *const *env);
/* Links the model file at path into the server's models dir as <id>.gguf
 * (the model id the API then knows). 0, or -1 if the link fails. */
int rg_server_add_model(const struct rg_server *s, const char *id, const char *path);
/* SIGTERM, then waits (up to 20 s); returns the exit status, or -1. Removes the temp dir. */
int rg_server_stop(struct rg_server *s);
/* Sends a signal without waiting. */
void rg_server_signal(struct rg_server *s, int sig);
/* Waits for the process to exit (up to timeout_s); exit status or -1. */
int rg_server_wait(struct rg_server *s, int timeout_s);
/* The server's log so far (malloc'd). */
char *rg_server_log(const struct rg_server *s);

struct rg_run {
    int status; /* exit code, or -1 if killed by a signal or timed out */
    char *out, *err;
    size_t out_len, err_len;
};
/* Runs rustygpt ARGS... with stdin_data (NULL: /dev/null), up to timeout_s. */
int rg_run_cli(const char *const *args, const char *const *env, const char *stdin_data,
               int timeout_s, struct rg_run *r);
void rg_run_free(struct rg_run *r);

struct rg_resp {
    long status;
    char *body;
    size_t len;
    char *headers; /* raw header block, lower-cased names not guaranteed */
};
/* One request with libcurl. headers: "Name: value" strings, NULL-ended. */
int rg_http(const struct rg_server *s, const char *method, const char *path,
            const char *const *headers, const char *body, size_t body_len, struct rg_resp *out);
void rg_resp_free(struct rg_resp *r);
/* Value of a response header (case-insensitive name) copied into buf, or NULL. */
const char *rg_resp_header(const struct rg_resp *r, const char *name, char *buf, size_t size);

/* Raw TCP: connect to the server; -1 on failure. */
int rg_tcp_connect(int port);
/* Writes all of data; 0 or -1. */
int rg_tcp_send(int fd, const char *data, size_t len);
/* Reads until `until` appears count times, EOF, or timeout_ms; returns malloc'd bytes (NUL-ended).
 */
char *rg_tcp_read_until(int fd, const char *until, int count, int timeout_ms, size_t *len);

/* Counts occurrences of needle in hay. */
size_t rg_count(const char *hay, const char *needle);

#endif
