/*
 * Shared test helpers on top of cmocka: where the reference data lives, and a
 * skip that says why. Each test binary is its own process (CTest runs it with
 * a timeout); cmocka's assert_* print both values on failure.
 */
#ifndef RG_TESTS_TEST_H
#define RG_TESTS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Directory of ../shared/testdata, or NULL when it is absent. */
static inline const char *rg_test_data_dir(void)
{
    const char *d = getenv("RG_TESTDATA");
    if (!d || access(d, R_OK) != 0) return NULL;
    return d;
}

/* Fills buf with RG_TESTDATA/rel; returns NULL (and the test should skip) when
 * the file is absent. */
static inline const char *rg_test_data_path(char *buf, size_t size, const char *rel)
{
    const char *d = rg_test_data_dir();
    if (!d) return NULL;
    snprintf(buf, size, "%s/%s", d, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

#define RG_SKIP_WITHOUT_TESTDATA(path_var, rel)                                                    \
    char path_var##_buf[4096];                                                                     \
    const char *path_var = rg_test_data_path(path_var##_buf, sizeof path_var##_buf, rel);          \
    if (!path_var) {                                                                               \
        fprintf(stderr, "SKIP: ../shared/testdata/%s is absent\n", rel);                           \
        skip();                                                                                    \
    }

/* Reads a whole file into memory (rg-free: plain malloc). NULL on failure. */
static inline void *rg_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    if (p) p[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return p;
}

#endif
