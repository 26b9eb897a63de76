/* Model catalog: metadata of real GGUF files, and bad files listed with their error. */
#include "test.h"

#include <sys/stat.h>

#include "engine/catalog/catalog.h"

static void test_file_type_names(void **state)
{
    (void)state;
    assert_string_equal(rg_catalog_file_type_name(15), "Q4_K_M");
    assert_string_equal(rg_catalog_file_type_name(7), "Q8_0");
    assert_string_equal(rg_catalog_file_type_name(1024 + 2), "Q4_0");
    assert_null(rg_catalog_file_type_name(5));
    assert_null(rg_catalog_file_type_name(999));
}

static void test_inspect_reference_models(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(path, "models/stories260K.gguf");
    struct rg_model_entry e;
    assert_int_equal(rg_catalog_inspect(path, &e), RG_OK);
    assert_null(e.error);
    assert_string_equal(e.name, "stories260K");
    assert_string_equal(e.arch, "llama");
    assert_int_equal(e.ctx, 2048);
    assert_int_equal(e.size, 1185376);
    /* 5 layers of 64x64 q,o; 64x32 k,v; 3 x 64x172 ffn; norms; 512x64 embd and output */
    uint64_t per_layer = 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 172 + 2 * 64;
    assert_int_equal(e.n_params, 5 * per_layer + 2 * 512 * 64 + 64);
    rg_catalog_entry_free(&e);

    RG_SKIP_WITHOUT_TESTDATA(q4k, "models/tiny256-q4_k_m.gguf");
    assert_int_equal(rg_catalog_inspect(q4k, &e), RG_OK);
    assert_null(e.error);
    assert_string_equal(e.quant, "Q4_K_M");
    rg_catalog_entry_free(&e);
}

static void test_scan_lists_bad_files_with_error(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(src, "models/tiny-q8_0.gguf");
    char dir[] = "/tmp/rg-catalog-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[512];
    snprintf(p, sizeof p, "%s/a-good.gguf", dir);
    assert_int_equal(symlink(src, p), 0);
    snprintf(p, sizeof p, "%s/b-bad.gguf", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("GGUF not really", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);

    struct rg_model_list l;
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_catalog_scan(dir, &l, err), RG_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].name, "a-good");
    assert_null(l.v[0].error);
    assert_string_equal(l.v[0].quant, "Q8_0");
    assert_string_equal(l.v[1].name, "b-bad");
    assert_non_null(l.v[1].error);
    rg_catalog_free(&l);

    const char *names[] = {"a-good.gguf", "b-bad.gguf", "notes.txt"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    assert_int_equal(rg_catalog_scan("/nonexistent/rg-models", &l, err), RG_ENOTFOUND);
    assert_non_null(strstr(err, "/nonexistent/rg-models"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_type_names),
        cmocka_unit_test(test_inspect_reference_models),
        cmocka_unit_test(test_scan_lists_bad_files_with_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
