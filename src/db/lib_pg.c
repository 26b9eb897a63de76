/*
 * The knowledge library on PostgreSQL (migration 5 and the library
 * operations of db_internal.h). The writes are PL/pgSQL functions, each
 * checking ownership and writing in one round trip:
 *
 *   lib_coll_create, lib_coll_update, lib_coll_delete
 *   lib_folder_add
 *   lib_doc_create, lib_doc_set_state, lib_doc_update, lib_doc_delete
 *   lib_chunks_replace  a document's chunks from one JSON array, in one call
 *   lib_chunks_embed    a batch of embeddings (one bytea of n * dim f32)
 *
 * Each answers an id or 0, or a negative code: -1 not found (another's row
 * in a collection not shared with the user too), -2 another's row in a
 * shared collection (read-only: RG_EPERM), -3 sharing needs an admin, -4 no
 * such folder. Full text: a generated tsvector ('simple') with a GIN index,
 * ranked by ts_rank_cd; the tsquery is built from db.c's words, each quoted
 * as a lexeme ('word' & 'word':*), so no user text is tsquery syntax.
 * Embeddings: bytea of little-endian f32.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"
#include "db/pg_internal.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "embeddings are stored little-endian");

static const char M5_TABLES[] =
    "CREATE TABLE lib_collections ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name text NOT NULL,"
    " description text NOT NULL DEFAULT '',"
    " shared boolean NOT NULL DEFAULT false,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " UNIQUE (owner_id, name));"
    "CREATE INDEX lib_collections_shared ON lib_collections(shared) WHERE shared;"
    "CREATE TABLE lib_folders ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " collection_id bigint NOT NULL REFERENCES lib_collections(id) ON DELETE CASCADE,"
    " path text NOT NULL,"
    " created_at bigint NOT NULL,"
    " UNIQUE (owner_id, path));"
    "CREATE INDEX lib_folders_collection ON lib_folders(collection_id);"
    "CREATE TABLE lib_documents ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " collection_id bigint NOT NULL REFERENCES lib_collections(id) ON DELETE CASCADE,"
    " folder_id bigint REFERENCES lib_folders(id) ON DELETE CASCADE,"
    " source text NOT NULL,"
    " format text NOT NULL,"
    " title text NOT NULL DEFAULT '',"
    " authors text NOT NULL DEFAULT '',"
    " language text NOT NULL DEFAULT '',"
    " identifier text NOT NULL DEFAULT '',"
    " encoding text NOT NULL DEFAULT '',"
    " tags text NOT NULL DEFAULT '',"
    " content_hash text NOT NULL DEFAULT '',"
    " size bigint NOT NULL DEFAULT 0,"
    " mtime bigint NOT NULL DEFAULT 0,"
    " state integer NOT NULL DEFAULT 0,"
    " error text NOT NULL DEFAULT '',"
    " progress double precision NOT NULL DEFAULT 0,"
    " n_chunks bigint NOT NULL DEFAULT 0,"
    " embed_model text NOT NULL DEFAULT '',"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL);"
    "CREATE UNIQUE INDEX lib_documents_path ON lib_documents(folder_id, source)"
    " WHERE folder_id IS NOT NULL;"
    "CREATE INDEX lib_documents_collection ON lib_documents(collection_id, updated_at DESC, id "
    "DESC);"
    "CREATE INDEX lib_documents_owner ON lib_documents(owner_id, updated_at DESC, id DESC);"
    "CREATE TABLE lib_chunks ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " doc_id bigint NOT NULL REFERENCES lib_documents(id) ON DELETE CASCADE,"
    " ordinal integer NOT NULL,"
    " text text NOT NULL,"
    " heading text NOT NULL DEFAULT '',"
    " section text NOT NULL DEFAULT '',"
    " page_from integer NOT NULL DEFAULT 0,"
    " page_to integer NOT NULL DEFAULT 0,"
    " part text NOT NULL DEFAULT '',"
    " byte_from bigint NOT NULL DEFAULT 0,"
    " byte_to bigint NOT NULL DEFAULT 0,"
    " tokens integer NOT NULL DEFAULT 0,"
    " embed_model text NOT NULL DEFAULT '',"
    " embedding bytea,"
    /* a tsvector holds at most 1 MB: the first 256 KiB of a chunk are searchable */
    " tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', left(text, 262144))) STORED);"
    "CREATE INDEX lib_chunks_doc ON lib_chunks(doc_id, ordinal);"
    "CREATE INDEX lib_chunks_model ON lib_chunks(embed_model, id) WHERE embedding IS NOT NULL;"
    "CREATE INDEX lib_chunks_tsv ON lib_chunks USING gin(tsv);";

/* -1 not found, -2 read-only (shared with p_user), 0 the owner's. */
static const char M5_ACCESS[] =
    "CREATE FUNCTION lib_access(p_user bigint, p_owner bigint, p_shared boolean) RETURNS bigint"
    " LANGUAGE sql IMMUTABLE AS $f$ SELECT CASE WHEN p_owner IS NULL THEN -1"
    " WHEN p_owner = p_user THEN 0 WHEN p_shared THEN -2 ELSE -1 END::bigint $f$;";

static const char M5_COLL_CREATE[] =
    "CREATE FUNCTION lib_coll_create(p_owner bigint, p_name text, p_desc text, p_shared boolean,"
    " p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE v bigint;\n"
    "BEGIN\n"
    " IF p_shared AND NOT EXISTS (SELECT 1 FROM users WHERE id = p_owner AND role = 'admin')\n"
    "  THEN RETURN -3; END IF;\n"
    " INSERT INTO lib_collections(owner_id, name, description, shared, created_at, updated_at)\n"
    "  VALUES (p_owner, p_name, p_desc, p_shared, p_now, p_now) RETURNING id INTO v;\n"
    " RETURN v;\n"
    "END $f$;";

static const char M5_COLL_UPDATE[] =
    "CREATE FUNCTION lib_coll_update(p_user bigint, p_id bigint, p_name text, p_desc text,"
    " p_shared integer, p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE k lib_collections%ROWTYPE; a bigint;\n"
    "BEGIN\n"
    " SELECT * INTO k FROM lib_collections WHERE id = p_id FOR UPDATE;\n"
    " a := lib_access(p_user, k.owner_id, k.shared);\n"
    " IF a < 0 THEN RETURN a; END IF;\n"
    " IF p_shared = 1 AND NOT EXISTS (SELECT 1 FROM users WHERE id = p_user AND role = 'admin')\n"
    "  THEN RETURN -3; END IF;\n"
    " UPDATE lib_collections SET name = coalesce(p_name, name), description ="
    " coalesce(p_desc, description),\n"
    "  shared = CASE WHEN p_shared < 0 THEN shared ELSE p_shared = 1 END, updated_at = p_now\n"
    "  WHERE id = p_id;\n"
    " RETURN 0;\n"
    "END $f$;";

static const char M5_COLL_DELETE[] =
    "CREATE FUNCTION lib_coll_delete(p_user bigint, p_id bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE k lib_collections%ROWTYPE; a bigint;\n"
    "BEGIN\n"
    " SELECT * INTO k FROM lib_collections WHERE id = p_id FOR UPDATE;\n"
    " a := lib_access(p_user, k.owner_id, k.shared);\n"
    " IF a < 0 THEN RETURN a; END IF;\n"
    " DELETE FROM lib_collections WHERE id = p_id;\n"
    " RETURN 0;\n"
    "END $f$;";

static const char M5_FOLDER_ADD[] =
    "CREATE FUNCTION lib_folder_add(p_user bigint, p_coll bigint, p_path text, p_now bigint)"
    " RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE k lib_collections%ROWTYPE; a bigint; v bigint;\n"
    "BEGIN\n"
    " SELECT * INTO k FROM lib_collections WHERE id = p_coll FOR SHARE;\n"
    " a := lib_access(p_user, k.owner_id, k.shared);\n"
    " IF a < 0 THEN RETURN a; END IF;\n"
    " INSERT INTO lib_folders(owner_id, collection_id, path, created_at)\n"
    "  VALUES (p_user, p_coll, p_path, p_now) RETURNING id INTO v;\n"
    " RETURN v;\n"
    "END $f$;";

static const char M5_DOC_CREATE[] =
    "CREATE FUNCTION lib_doc_create(p_owner bigint, p_coll bigint, p_folder bigint, p_source text,"
    " p_format text, p_meta text[], p_size bigint, p_mtime bigint, p_now bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE k lib_collections%ROWTYPE; a bigint; v bigint;\n"
    "BEGIN\n"
    " SELECT * INTO k FROM lib_collections WHERE id = p_coll FOR SHARE;\n"
    " a := lib_access(p_owner, k.owner_id, k.shared);\n"
    " IF a < 0 THEN RETURN a; END IF;\n"
    " IF p_folder IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lib_folders WHERE id = p_folder\n"
    "  AND owner_id = p_owner AND collection_id = p_coll) THEN RETURN -4; END IF;\n"
    " INSERT INTO lib_documents(owner_id, collection_id, folder_id, source, format, title,\n"
    "  authors, language, identifier, encoding, tags, content_hash, size, mtime, created_at,\n"
    "  updated_at) VALUES (p_owner, p_coll, p_folder, p_source, p_format, p_meta[1], p_meta[2],\n"
    "  p_meta[3], p_meta[4], p_meta[5], p_meta[6], p_meta[7], p_size, p_mtime, p_now, p_now)\n"
    "  RETURNING id INTO v;\n"
    " RETURN v;\n"
    "END $f$;";

/* The access of p_user to document p_id, its row locked. */
static const char M5_DOC_ACCESS[] =
    "CREATE FUNCTION lib_doc_access(p_user bigint, p_id bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE o bigint; s boolean;\n"
    "BEGIN\n"
    " SELECT d.owner_id, k.shared INTO o, s FROM lib_documents d JOIN lib_collections k\n"
    "  ON k.id = d.collection_id WHERE d.id = p_id FOR UPDATE OF d;\n"
    " RETURN lib_access(p_user, o, s);\n"
    "END $f$;";

static const char M5_DOC_SET_STATE[] =
    "CREATE FUNCTION lib_doc_set_state(p_user bigint, p_id bigint, p_state integer,"
    " p_progress double precision, p_error text, p_now bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE a bigint := lib_doc_access(p_user, p_id);\n"
    "BEGIN\n"
    " IF a < 0 THEN RETURN a; END IF;\n"
    " UPDATE lib_documents SET state = p_state, progress = p_progress, error = p_error,\n"
    "  updated_at = p_now WHERE id = p_id;\n"
    " RETURN 0;\n"
    "END $f$;";

/* p_meta: title, authors, language, identifier, encoding, format, tags,
 * content_hash, embed_model; NULL elements keep. */
static const char M5_DOC_UPDATE[] =
    "CREATE FUNCTION lib_doc_update(p_user bigint, p_id bigint, p_meta text[], p_size bigint,"
    " p_mtime bigint, p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE a bigint := lib_doc_access(p_user, p_id);\n"
    "BEGIN\n"
    " IF a < 0 THEN RETURN a; END IF;\n"
    " UPDATE lib_documents SET title = coalesce(p_meta[1], title), authors ="
    " coalesce(p_meta[2], authors),\n"
    "  language = coalesce(p_meta[3], language), identifier = coalesce(p_meta[4], identifier),\n"
    "  encoding = coalesce(p_meta[5], encoding), format = coalesce(p_meta[6], format),\n"
    "  tags = coalesce(p_meta[7], tags), content_hash = coalesce(p_meta[8], content_hash),\n"
    "  embed_model = coalesce(p_meta[9], embed_model),\n"
    "  size = CASE WHEN p_size < 0 THEN size ELSE p_size END,\n"
    "  mtime = CASE WHEN p_mtime < 0 THEN mtime ELSE p_mtime END, updated_at = p_now\n"
    "  WHERE id = p_id;\n"
    " RETURN 0;\n"
    "END $f$;";

static const char M5_DOC_DELETE[] =
    "CREATE FUNCTION lib_doc_delete(p_user bigint, p_id bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE a bigint := lib_doc_access(p_user, p_id);\n"
    "BEGIN\n"
    " IF a < 0 THEN RETURN a; END IF;\n"
    " DELETE FROM lib_documents WHERE id = p_id;\n"
    " RETURN 0;\n"
    "END $f$;";

/* The new ids in order, or {code} (negative). */
static const char M5_CHUNKS_REPLACE[] =
    "CREATE FUNCTION lib_chunks_replace(p_user bigint, p_doc bigint, p_chunks jsonb, p_now bigint)"
    " RETURNS bigint[] LANGUAGE plpgsql AS $f$\n"
    "DECLARE a bigint := lib_doc_access(p_user, p_doc); ids bigint[]; n bigint;\n"
    "BEGIN\n"
    " IF a < 0 THEN RETURN ARRAY[a]; END IF;\n"
    " DELETE FROM lib_chunks WHERE doc_id = p_doc;\n"
    " WITH ins AS (INSERT INTO lib_chunks(doc_id, ordinal, text, heading, section, page_from,\n"
    "  page_to, part, byte_from, byte_to, tokens)\n"
    "  SELECT p_doc, (e.o - 1)::integer, e.c->>'t', e.c->>'h', e.c->>'s', (e.c->>'pf')::integer,\n"
    "   (e.c->>'pt')::integer, e.c->>'p', (e.c->>'bf')::bigint, (e.c->>'bt')::bigint,\n"
    "   (e.c->>'k')::integer FROM jsonb_array_elements(p_chunks) WITH ORDINALITY AS e(c, o)\n"
    "   ORDER BY e.o RETURNING id, ordinal)\n"
    " SELECT coalesce(array_agg(id ORDER BY ordinal), '{}') INTO ids FROM ins;\n"
    " n := cardinality(ids);\n"
    " UPDATE lib_documents SET n_chunks = n, embed_model = '', updated_at = p_now\n"
    "  WHERE id = p_doc;\n"
    " RETURN ids;\n"
    "END $f$;";

static const char M5_CHUNKS_EMBED[] =
    "CREATE FUNCTION lib_chunks_embed(p_user bigint, p_ids bigint[], p_vecs bytea, p_dim integer,"
    " p_model text) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE w integer := p_dim * 4;\n"
    "BEGIN\n"
    " IF (SELECT count(DISTINCT h.id) FROM lib_chunks h JOIN lib_documents d ON d.id = h.doc_id\n"
    "  WHERE h.id = ANY(p_ids) AND d.owner_id = p_user) <> (SELECT count(DISTINCT x)\n"
    "  FROM unnest(p_ids) x) THEN RETURN -1; END IF;\n"
    " UPDATE lib_chunks h SET embedding = substring(p_vecs FROM (u.o - 1)::integer * w + 1\n"
    "  FOR w), embed_model = p_model FROM unnest(p_ids) WITH ORDINALITY AS u(id, o)\n"
    "  WHERE h.id = u.id;\n"
    " RETURN 0;\n"
    "END $f$;";

const char *const rg_db_pg_lib_migration[] = {
    M5_TABLES,        M5_ACCESS,     M5_COLL_CREATE, M5_COLL_UPDATE,
    M5_COLL_DELETE,   M5_FOLDER_ADD, M5_DOC_CREATE,  M5_DOC_ACCESS,
    M5_DOC_SET_STATE, M5_DOC_UPDATE, M5_DOC_DELETE,  M5_CHUNKS_REPLACE,
    M5_CHUNKS_EMBED,  NULL};

/* ---- reading rows ------------------------------------------------------------ */

#define COLL_COLS                                                                                  \
    "k.id, k.owner_id, k.name, k.description, k.shared,"                                           \
    " (SELECT count(*) FROM lib_documents n WHERE n.collection_id = k.id), k.created_at,"          \
    " k.updated_at"
#define FOLDER_COLS "f.id, f.owner_id, f.collection_id, f.path, f.created_at"
#define DOC_COLS                                                                                   \
    "d.id, d.owner_id, d.collection_id, coalesce(d.folder_id, 0), d.source, d.format, d.title,"    \
    " d.authors, d.language, d.identifier, d.encoding, d.tags, d.content_hash, d.size, d.mtime,"   \
    " d.state, d.error, d.progress, d.n_chunks, d.embed_model, d.created_at, d.updated_at"
#define CHUNK_COLS                                                                                 \
    "h.id, h.doc_id, h.ordinal, h.text, h.heading, h.section, h.page_from, h.page_to, h.part,"     \
    " h.byte_from, h.byte_to, h.tokens, h.embed_model, coalesce(length(h.embedding), 0) / 4"
#define CHUNK_NCOLS 14
#define HIT_COLS                                                                                   \
    "h.id, h.doc_id, d.collection_id, h.text, h.heading, h.section, h.page_from, h.page_to,"       \
    " h.part, h.byte_from, h.byte_to, h.ordinal, d.title, d.source"
#define DOC_JOIN "lib_documents d JOIN lib_collections k ON k.id = d.collection_id"
/* after "lib_chunks h JOIN ": its document and collection */
#define CHUNK_JOIN                                                                                 \
    "lib_documents d ON d.id = h.doc_id JOIN lib_collections k ON k.id = d.collection_id"
#define VISIBLE(u) "(d.owner_id = " u " OR k.shared)"

typedef int (*read_fn)(PGresult *r, int row, void *item, const void *ctx, char *err);

static int read_coll(PGresult *r, int i, void *item, const void *ctx, char *err)
{
    (void)ctx;
    (void)err;
    struct rg_db_collection *k = item;
    k->id = rg_db_pg_ival(r, i, 0);
    k->owner_id = rg_db_pg_ival(r, i, 1);
    rg_db_copy(k->name, sizeof k->name, rg_db_pg_val(r, i, 2));
    rg_db_copy(k->description, sizeof k->description, rg_db_pg_val(r, i, 3));
    k->shared = rg_db_pg_bval(r, i, 4);
    k->n_documents = rg_db_pg_ival(r, i, 5);
    k->created_at = rg_db_pg_ival(r, i, 6);
    k->updated_at = rg_db_pg_ival(r, i, 7);
    return RG_OK;
}

static int read_folder(PGresult *r, int i, void *item, const void *ctx, char *err)
{
    (void)ctx;
    (void)err;
    struct rg_db_lib_folder *f = item;
    f->id = rg_db_pg_ival(r, i, 0);
    f->owner_id = rg_db_pg_ival(r, i, 1);
    f->collection_id = rg_db_pg_ival(r, i, 2);
    rg_db_copy(f->path, sizeof f->path, rg_db_pg_val(r, i, 3));
    f->created_at = rg_db_pg_ival(r, i, 4);
    return RG_OK;
}

static void doc_from(PGresult *r, int i, int o, struct rg_db_document *d)
{
    d->id = rg_db_pg_ival(r, i, o + 0);
    d->owner_id = rg_db_pg_ival(r, i, o + 1);
    d->collection_id = rg_db_pg_ival(r, i, o + 2);
    d->folder_id = rg_db_pg_ival(r, i, o + 3);
    rg_db_copy(d->source, sizeof d->source, rg_db_pg_val(r, i, o + 4));
    rg_db_copy(d->format, sizeof d->format, rg_db_pg_val(r, i, o + 5));
    rg_db_copy(d->title, sizeof d->title, rg_db_pg_val(r, i, o + 6));
    rg_db_copy(d->authors, sizeof d->authors, rg_db_pg_val(r, i, o + 7));
    rg_db_copy(d->language, sizeof d->language, rg_db_pg_val(r, i, o + 8));
    rg_db_copy(d->identifier, sizeof d->identifier, rg_db_pg_val(r, i, o + 9));
    rg_db_copy(d->encoding, sizeof d->encoding, rg_db_pg_val(r, i, o + 10));
    rg_db_copy(d->tags, sizeof d->tags, rg_db_pg_val(r, i, o + 11));
    rg_db_copy(d->content_hash, sizeof d->content_hash, rg_db_pg_val(r, i, o + 12));
    d->size = rg_db_pg_ival(r, i, o + 13);
    d->mtime = rg_db_pg_ival(r, i, o + 14);
    d->state = (enum rg_db_doc_state)rg_db_pg_ival(r, i, o + 15);
    rg_db_copy(d->error, sizeof d->error, rg_db_pg_val(r, i, o + 16));
    d->progress = strtod(rg_db_pg_val(r, i, o + 17), NULL);
    d->n_chunks = rg_db_pg_ival(r, i, o + 18);
    rg_db_copy(d->embed_model, sizeof d->embed_model, rg_db_pg_val(r, i, o + 19));
    d->created_at = rg_db_pg_ival(r, i, o + 20);
    d->updated_at = rg_db_pg_ival(r, i, o + 21);
}

static int read_doc(PGresult *r, int i, void *item, const void *ctx, char *err)
{
    (void)ctx;
    (void)err;
    doc_from(r, i, 0, item);
    return RG_OK;
}

static int read_chunk(PGresult *r, int i, void *item, const void *ctx, char *err)
{
    (void)ctx;
    struct rg_db_chunk *h = item;
    h->id = rg_db_pg_ival(r, i, 0);
    h->doc_id = rg_db_pg_ival(r, i, 1);
    h->ordinal = (int)rg_db_pg_ival(r, i, 2);
    h->text = rg_strdup(rg_db_pg_val(r, i, 3));
    rg_db_copy(h->heading, sizeof h->heading, rg_db_pg_val(r, i, 4));
    rg_db_copy(h->section, sizeof h->section, rg_db_pg_val(r, i, 5));
    h->page_from = (int)rg_db_pg_ival(r, i, 6);
    h->page_to = (int)rg_db_pg_ival(r, i, 7);
    rg_db_copy(h->part, sizeof h->part, rg_db_pg_val(r, i, 8));
    h->byte_from = rg_db_pg_ival(r, i, 9);
    h->byte_to = rg_db_pg_ival(r, i, 10);
    h->tokens = (int)rg_db_pg_ival(r, i, 11);
    rg_db_copy(h->embed_model, sizeof h->embed_model, rg_db_pg_val(r, i, 12));
    h->dim = (int)rg_db_pg_ival(r, i, 13);
    return h->text ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
}

static int read_hit(PGresult *r, int i, void *item, const void *ctx, char *err)
{
    (void)err;
    struct rg_db_chunk_hit *h = item;
    h->chunk_id = rg_db_pg_ival(r, i, 0);
    h->doc_id = rg_db_pg_ival(r, i, 1);
    h->collection_id = rg_db_pg_ival(r, i, 2);
    rg_db_lib_snippet(rg_db_pg_val(r, i, 3), ctx, h->snippet, sizeof h->snippet);
    rg_db_copy(h->heading, sizeof h->heading, rg_db_pg_val(r, i, 4));
    rg_db_copy(h->section, sizeof h->section, rg_db_pg_val(r, i, 5));
    h->page_from = (int)rg_db_pg_ival(r, i, 6);
    h->page_to = (int)rg_db_pg_ival(r, i, 7);
    rg_db_copy(h->part, sizeof h->part, rg_db_pg_val(r, i, 8));
    h->byte_from = rg_db_pg_ival(r, i, 9);
    h->byte_to = rg_db_pg_ival(r, i, 10);
    h->ordinal = (int)rg_db_pg_ival(r, i, 11);
    rg_db_copy(h->title, sizeof h->title, rg_db_pg_val(r, i, 12));
    rg_db_copy(h->source, sizeof h->source, rg_db_pg_val(r, i, 13));
    return RG_OK;
}

static int row1(PGresult *r, int rc, read_fn read, void *item, const char *none, char *err)
{
    if (!r) return rc;
    rc = PQntuples(r) == 0 ? rg_err_set(err, RG_ENOTFOUND, "no such %s", none)
                           : read(r, 0, item, NULL, err);
    PQclear(r);
    return rc;
}

static int rows(PGresult *r, int rc, read_fn read, const void *ctx, size_t elem, void **out,
                size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    if (!r) return rc;
    size_t m = (size_t)PQntuples(r);
    if (m && !(*out = rg_calloc(m, elem))) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < m; i++) {
        if ((rc = read(r, (int)i, (char *)*out + i * elem, ctx, err))) break;
        (*n)++;
    }
    PQclear(r);
    if (rc) {
        if (read == read_chunk)
            rg_db_chunk_list_free(*out, *n);
        else
            rg_free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* One integer answer of a function (or rc when it failed); clears r. */
static int one_int(PGresult *r, int rc, int64_t *v)
{
    if (!r) return rc;
    *v = PQntuples(r) ? rg_db_pg_ival(r, 0, 0) : 0;
    PQclear(r);
    return RG_OK;
}

/* A function's negative answer as its error. */
static int code_err(int64_t v, const char *what, char *err)
{
    if (v == -2) return rg_err_set(err, RG_EPERM, "this %s is shared with you read-only", what);
    if (v == -3) return rg_err_set(err, RG_EPERM, "only an admin may share a collection");
    if (v == -4) return rg_err_set(err, RG_ENOTFOUND, "no such folder");
    return rg_err_set(err, RG_ENOTFOUND, "no such %s", what);
}

/* ---- collections ------------------------------------------------------------- */

static int coll_read(PGconn *c, int64_t user, int64_t id, struct rg_db_collection *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(c, &rc, err,
                                 "SELECT " COLL_COLS " FROM lib_collections k WHERE k.id = $1 AND"
                                 " (k.owner_id = $2 OR k.shared)",
                                 "ii", id, user);
    return row1(r, rc, read_coll, out, "collection", err);
}

static int exists_err(int rc, const char *msg, char *err)
{
    if (rc == RG_EEXISTS) rg_err_set(err, RG_EEXISTS, "%s", msg);
    return rc;
}

int rg_db_pg_lib_coll_create(void *conn, const struct rg_db_collection_new *n,
                             struct rg_db_collection *out, char *err)
{
    int rc;
    int64_t v = 0;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT lib_coll_create($1, $2, $3, $4, $5)", "issbi",
                       n->owner_id, n->name, n->description, (int)n->shared, n->now);
    if ((rc = exists_err(one_int(r, rc, &v), "a collection of that name exists", err))) return rc;
    if (v <= 0) return code_err(v, "collection", err);
    return coll_read(conn, n->owner_id, v, out, err);
}

int rg_db_pg_lib_coll_get(void *conn, int64_t user, int64_t id, struct rg_db_collection *out,
                          char *err)
{
    return coll_read(conn, user, id, out, err);
}

int rg_db_pg_lib_coll_list(void *conn, int64_t user, struct rg_db_collection **out, size_t *n,
                           char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT " COLL_COLS " FROM lib_collections k WHERE k.owner_id = $1"
                                 " OR k.shared ORDER BY k.name COLLATE \"C\", k.id",
                                 "i", user);
    return rows(r, rc, read_coll, NULL, sizeof **out, (void **)out, n, err);
}

int rg_db_pg_lib_coll_update(void *conn, int64_t user, int64_t id,
                             const struct rg_db_collection_change *ch, struct rg_db_collection *out,
                             char *err)
{
    int rc;
    int64_t v = 0;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT lib_coll_update($1, $2, $3, $4, $5, $6)", "iissii",
                       user, id, ch->name, ch->description, (int64_t)ch->shared, ch->now);
    if ((rc = exists_err(one_int(r, rc, &v), "a collection of that name exists", err))) return rc;
    if (v < 0) return code_err(v, "collection", err);
    return coll_read(conn, user, id, out, err);
}

int rg_db_pg_lib_coll_delete(void *conn, int64_t user, int64_t id, char *err)
{
    int rc;
    int64_t v = 0;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT lib_coll_delete($1, $2)", "ii", user, id);
    if ((rc = one_int(r, rc, &v))) return rc;
    return v < 0 ? code_err(v, "collection", err) : RG_OK;
}

/* ---- folders ----------------------------------------------------------------- */

int rg_db_pg_lib_folder_add(void *conn, int64_t user, int64_t coll, const char *path, int64_t now,
                            struct rg_db_lib_folder *out, char *err)
{
    int rc;
    int64_t v = 0;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT lib_folder_add($1, $2, $3, $4)", "iisi",
                                 user, coll, path, now);
    if ((rc = exists_err(one_int(r, rc, &v), "this folder is watched already", err))) return rc;
    if (v <= 0) return code_err(v, "collection", err);
    r = rg_db_pg_query(conn, &rc, err, "SELECT " FOLDER_COLS " FROM lib_folders f WHERE f.id = $1",
                       "i", v);
    return row1(r, rc, read_folder, out, "folder", err);
}

int rg_db_pg_lib_folder_list(void *conn, int64_t user, struct rg_db_lib_folder **out, size_t *n,
                             char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT " FOLDER_COLS " FROM lib_folders f WHERE $1 = 0 OR"
                                 " f.owner_id = $1 ORDER BY f.id",
                                 "i", user);
    return rows(r, rc, read_folder, NULL, sizeof **out, (void **)out, n, err);
}

int rg_db_pg_lib_folder_remove(void *conn, int64_t user, int64_t id, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err, "DELETE FROM lib_folders WHERE id = $1 AND owner_id = $2", "ii", id, user);
    if (!r) return rc;
    bool gone = atoi(PQcmdTuples(r)) > 0;
    PQclear(r);
    return gone ? RG_OK : rg_err_set(err, RG_ENOTFOUND, "no such folder");
}

/* ---- documents --------------------------------------------------------------- */

static int doc_read(PGconn *c, int64_t user, int64_t id, struct rg_db_document *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        c, &rc, err, "SELECT " DOC_COLS " FROM " DOC_JOIN " WHERE d.id = $1 AND " VISIBLE("$2"),
        "ii", id, user);
    return row1(r, rc, read_doc, out, "document", err);
}

/* A text[] literal of the strings v[0..n) (NULL elements as NULL). */
static char *text_array(const char *const *v, size_t n)
{
    size_t cap = 4;
    for (size_t i = 0; i < n; i++)
        cap += v[i] ? 2 * strlen(v[i]) + 4 : 6;
    char *s = rg_malloc(cap), *o = s;
    if (!s) return NULL;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i) *o++ = ',';
        if (!v[i]) {
            memcpy(o, "NULL", 4);
            o += 4;
            continue;
        }
        *o++ = '"';
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\') *o++ = '\\';
            *o++ = *p;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return s;
}

int rg_db_pg_lib_doc_create(void *conn, const struct rg_db_doc_new *n, struct rg_db_document *out,
                            char *err)
{
    const char *meta[] = {n->title,    n->authors, n->language,    n->identifier,
                          n->encoding, n->tags,    n->content_hash};
    char *arr = text_array(meta, 7);
    if (!arr) return rg_err_set(err, RG_ENOMEM, "out of memory");
    int rc;
    int64_t v = 0;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT lib_doc_create($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                       "iiosssiii", n->owner_id, n->collection_id, n->folder_id, n->source,
                       n->format, arr, n->size, n->mtime, n->now);
    rg_free(arr);
    if ((rc = exists_err(one_int(r, rc, &v), "the folder has this document already", err)))
        return rc;
    if (v <= 0) return code_err(v, "collection", err);
    return doc_read(conn, n->owner_id, v, out, err);
}

int rg_db_pg_lib_doc_get(void *conn, int64_t user, int64_t id, struct rg_db_document *out,
                         char *err)
{
    return doc_read(conn, user, id, out, err);
}

int rg_db_pg_lib_doc_by_path(void *conn, int64_t user, int64_t folder, const char *source,
                             struct rg_db_document *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT " DOC_COLS " FROM " DOC_JOIN " WHERE d.folder_id = $1 AND"
                                 " d.source = $2 AND d.owner_id = $3",
                                 "isi", folder, source, user);
    return row1(r, rc, read_doc, out, "document", err);
}

int rg_db_pg_lib_doc_list(void *conn, int64_t user, const struct rg_db_doc_filter *f,
                          struct rg_db_document **out, size_t *n, bool *more, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err,
                       "SELECT " DOC_COLS " FROM " DOC_JOIN
                       " WHERE " VISIBLE("$1") " AND ($2 = 0 OR"
                                               " d.collection_id = $2) AND ($3 = 0 OR ($3 = -1 AND "
                                               "d.folder_id IS NULL) OR d.folder_id ="
                                               " $3) AND ($4 < 0 OR d.state = $4) AND ($5::text IS "
                                               "NULL OR position(',' || $5 || ',' IN"
                                               " ',' || d.tags || ',') > 0) ORDER BY d.updated_at "
                                               "DESC, d.id DESC LIMIT $6 OFFSET $7",
                       "iiiisii", user, f->collection_id, f->folder_id, (int64_t)f->state, f->tag,
                       (int64_t)f->limit + 1, (int64_t)f->offset);
    rc = rows(r, rc, read_doc, NULL, sizeof **out, (void **)out, n, err);
    if (!rc && *n > (size_t)f->limit) {
        *n = (size_t)f->limit;
        *more = true;
    }
    return rc;
}

int rg_db_pg_lib_doc_set_state(void *conn, int64_t user, int64_t id, int state, double progress,
                               const char *error, int64_t now, char *err)
{
    int rc;
    int64_t v = 0;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT lib_doc_set_state($1, $2, $3, $4, $5, $6)",
                                 "iiidsi", user, id, (int64_t)state, progress, error, now);
    if ((rc = one_int(r, rc, &v))) return rc;
    return v < 0 ? code_err(v, "document", err) : RG_OK;
}

int rg_db_pg_lib_doc_update(void *conn, int64_t user, int64_t id, const struct rg_db_doc_change *ch,
                            struct rg_db_document *out, char *err)
{
    const char *meta[] = {ch->title,  ch->authors, ch->language,     ch->identifier, ch->encoding,
                          ch->format, ch->tags,    ch->content_hash, ch->embed_model};
    char *arr = text_array(meta, 9);
    if (!arr) return rg_err_set(err, RG_ENOMEM, "out of memory");
    int rc;
    int64_t v = 0;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT lib_doc_update($1, $2, $3, $4, $5, $6)",
                                 "iisiii", user, id, arr, ch->size, ch->mtime, ch->now);
    rg_free(arr);
    if ((rc = one_int(r, rc, &v))) return rc;
    if (v < 0) return code_err(v, "document", err);
    return doc_read(conn, user, id, out, err);
}

int rg_db_pg_lib_doc_delete(void *conn, int64_t user, int64_t id, char *err)
{
    int rc;
    int64_t v = 0;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT lib_doc_delete($1, $2)", "ii", user, id);
    if ((rc = one_int(r, rc, &v))) return rc;
    return v < 0 ? code_err(v, "document", err) : RG_OK;
}

/* ---- chunks ------------------------------------------------------------------ */

int rg_db_pg_lib_chunks_replace(void *conn, int64_t user, int64_t doc, const struct rg_db_chunk *ch,
                                size_t n, int64_t *ids, int64_t now, char *err)
{
    json_t *a = json_array();
    int rc = a ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        const struct rg_db_chunk *k = &ch[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:I, s:I, s:i}", "t", k->text, "h",
                              k->heading, "s", k->section, "pf", k->page_from, "pt", k->page_to,
                              "p", k->part, "bf", (json_int_t)k->byte_from, "bt",
                              (json_int_t)k->byte_to, "k", k->tokens);
        if (!o || json_array_append_new(a, o)) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    char *js = rc ? NULL : json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (!rc && !js) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    if (rc) return rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT array_to_string(lib_chunks_replace($1, $2, $3::jsonb,"
                                 " $4), ',')",
                                 "iisi", user, doc, js, now);
    free(js);
    if (!r) return rc;
    const char *s = rg_db_pg_val(r, 0, 0);
    int64_t first = *s ? strtoll(s, NULL, 10) : 0;
    if (first < 0) {
        PQclear(r);
        return code_err(first, "document", err);
    }
    size_t i = 0;
    for (const char *p = s; *p && i < n; i++) {
        char *e;
        int64_t id = strtoll(p, &e, 10);
        if (ids) ids[i] = id;
        p = *e == ',' ? e + 1 : e;
    }
    PQclear(r);
    return RG_OK;
}

int rg_db_pg_lib_chunks_embed(void *conn, int64_t user, const int64_t *ids, size_t n,
                              const float *vecs, int dim, const char *model, char *err)
{
    size_t bytes = n * (size_t)dim * sizeof(float);
    char *hex = rg_malloc(bytes * 2 + 3), *idl = rg_malloc(n * 21 + 3);
    if (!hex || !idl) {
        rg_free(hex);
        rg_free(idl);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    static const char X[] = "0123456789abcdef";
    const unsigned char *b = (const unsigned char *)vecs;
    hex[0] = '\\';
    hex[1] = 'x';
    for (size_t i = 0; i < bytes; i++) {
        hex[2 + 2 * i] = X[b[i] >> 4];
        hex[3 + 2 * i] = X[b[i] & 15];
    }
    hex[2 + 2 * bytes] = '\0';
    size_t o = 0;
    idl[o++] = '{';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(idl + o, 22, "%s%lld", i ? "," : "", (long long)ids[i]);
    idl[o++] = '}';
    idl[o] = '\0';
    int rc;
    int64_t v = 0;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT lib_chunks_embed($1, $2, $3, $4, $5)",
                                 "issis", user, idl, hex, (int64_t)dim, model);
    rg_free(hex);
    rg_free(idl);
    if ((rc = one_int(r, rc, &v))) return rc;
    return v < 0 ? rg_err_set(err, RG_ENOTFOUND, "no such chunk") : RG_OK;
}

int rg_db_pg_lib_chunk_get(void *conn, int64_t user, int64_t id, struct rg_db_chunk *out,
                           struct rg_db_document *doc, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err,
                       "SELECT " CHUNK_COLS ", " DOC_COLS " FROM lib_chunks h JOIN " CHUNK_JOIN
                       " WHERE h.id = $1 AND " VISIBLE("$2"),
                       "ii", id, user);
    if (!r) return rc;
    if (PQntuples(r) == 0) {
        rc = rg_err_set(err, RG_ENOTFOUND, "no such chunk");
    } else {
        rc = read_chunk(r, 0, out, NULL, err);
        if (!rc && doc) doc_from(r, 0, CHUNK_NCOLS, doc);
    }
    PQclear(r);
    return rc;
}

int rg_db_pg_lib_chunk_list(void *conn, int64_t user, int64_t doc, int from, int limit,
                            struct rg_db_chunk **out, size_t *n, char *err)
{
    struct rg_db_document d;
    int rc = doc_read(conn, user, doc, &d, err);
    if (rc) return rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT " CHUNK_COLS " FROM lib_chunks h WHERE h.doc_id = $1 AND"
                                 " h.ordinal >= $2 ORDER BY h.ordinal LIMIT $3",
                                 "iii", doc, (int64_t)from, (int64_t)limit);
    return rows(r, rc, read_chunk, NULL, sizeof **out, (void **)out, n, err);
}

/* ---- vectors ----------------------------------------------------------------- */

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int rg_db_pg_lib_vec_page(void *conn, const char *model, int64_t after, int limit,
                          struct rg_db_vec_page *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT h.id, h.doc_id, d.collection_id, d.owner_id, k.shared,"
                                 " h.embedding FROM lib_chunks h JOIN " CHUNK_JOIN
                                 " WHERE h.embed_model = $1 AND"
                                 " h.embedding IS NOT NULL AND h.id > $2 ORDER BY h.id LIMIT $3",
                                 "sii", model, after, (int64_t)limit);
    if (!r) return rc;
    int m = PQntuples(r);
    for (int i = 0; !rc && i < m; i++) {
        const char *hx = rg_db_pg_val(r, i, 5);
        size_t len = strlen(hx);
        if (len < 2 || hx[0] != '\\' || hx[1] != 'x') continue;
        size_t bytes = (len - 2) / 2;
        if (out->dim == 0) {
            out->dim = (int)(bytes / sizeof(float));
            if (out->dim < 1) continue;
            out->rows = rg_calloc((size_t)m, sizeof *out->rows);
            out->buf = rg_malloc_array((size_t)m * (size_t)out->dim, sizeof(float));
            if (!out->rows || !out->buf) {
                rc = rg_err_set(err, RG_ENOMEM, "out of memory");
                break;
            }
        }
        if (bytes != (size_t)out->dim * sizeof(float)) continue;
        struct rg_db_vec_row *row = &out->rows[out->n];
        row->chunk_id = rg_db_pg_ival(r, i, 0);
        row->doc_id = rg_db_pg_ival(r, i, 1);
        row->collection_id = rg_db_pg_ival(r, i, 2);
        row->owner_id = rg_db_pg_ival(r, i, 3);
        row->shared = rg_db_pg_bval(r, i, 4);
        row->vec = out->buf + out->n * (size_t)out->dim;
        unsigned char *dst = (unsigned char *)row->vec;
        for (size_t k = 0; k < bytes; k++)
            dst[k] = (unsigned char)(hexval(hx[2 + 2 * k]) << 4 | hexval(hx[3 + 2 * k]));
        out->n++;
    }
    PQclear(r);
    if (rc) rg_db_vec_page_free(out);
    return rc;
}

int rg_db_pg_lib_vec_stats(void *conn, const char *model, int64_t *count, int64_t *max_id,
                           char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT count(*), coalesce(max(id), 0) FROM lib_chunks WHERE"
                                 " embed_model = $1 AND embedding IS NOT NULL",
                                 "s", model);
    if (!r) return rc;
    *count = rg_db_pg_ival(r, 0, 0);
    *max_id = rg_db_pg_ival(r, 0, 1);
    PQclear(r);
    return RG_OK;
}

/* ---- search ------------------------------------------------------------------ */

/* $2 user, $3 colls, $4 doc, $5 tag, $6 language. */
#define CHUNK_FILTER                                                                               \
    VISIBLE("$2")                                                                                  \
    " AND ($3::text IS NULL OR d.collection_id = ANY(string_to_array($3, ',')::bigint[]))"         \
    " AND ($4 = 0 OR d.id = $4) AND ($5::text IS NULL OR position(',' || $5 || ',' IN ',' ||"      \
    " d.tags || ',') > 0) AND ($6::text IS NULL OR d.language = $6 OR left(d.language,"            \
    " length($6) + 1) = $6 || '-')"

/* The tsquery of words: each a quoted lexeme, the last a prefix; all
 * required, or with any any one of them. */
static int ts_query(const struct rg_db_words *w, bool any, char *out, size_t size, char *err)
{
    size_t o = 0;
    for (int i = 0; i < w->n; i++) {
        int k = snprintf(out + o, size - o, "%s'%s'%s", i ? (any ? " | " : " & ") : "", w->w[i],
                         i == w->n - 1 ? ":*" : "");
        if (k < 0 || (size_t)k >= size - o)
            return rg_err_set(err, RG_EINVAL, "the search is too long");
        o += (size_t)k;
    }
    return RG_OK;
}

int rg_db_pg_lib_chunk_locate(void *conn, int64_t user, const int64_t *ids, size_t n,
                              const struct rg_db_chunk_query *q, const char *colls,
                              const struct rg_db_words *words, struct rg_db_chunk_hit **out,
                              size_t *n_out, char *err)
{
    char *idl = rg_malloc(n * 21 + 3);
    if (!idl) return rg_err_set(err, RG_ENOMEM, "out of memory");
    size_t o = 0;
    idl[o++] = '{';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(idl + o, 22, "%s%lld", i ? "," : "", (long long)ids[i]);
    idl[o++] = '}';
    idl[o] = '\0';
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT " HIT_COLS " FROM unnest($1::bigint[]) WITH ORDINALITY"
                                 " AS u(id, o) JOIN lib_chunks h ON h.id = u.id JOIN " CHUNK_JOIN
                                 " WHERE " CHUNK_FILTER " ORDER BY u.o",
                                 "sisiss", idl, user, colls, q->doc_id, q->tag, q->language);
    rg_free(idl);
    return rows(r, rc, read_hit, words, sizeof **out, (void **)out, n_out, err);
}

int rg_db_pg_lib_chunk_search(void *conn, int64_t user, const struct rg_db_chunk_query *q,
                              const char *colls, const struct rg_db_words *words,
                              struct rg_db_chunk_hit **out, size_t *n, char *err)
{
    char tq[RG_DB_SEARCH_Q_MAX * 2 + 8 * RG_DB_SEARCH_WORDS_MAX + 8];
    int rc = ts_query(words, q->any_word, tq, sizeof tq, err);
    if (rc) return rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "SELECT " HIT_COLS ", ts_rank_cd(h.tsv, x.q) AS r FROM"
        " to_tsquery('simple', $1) AS x(q), lib_chunks h JOIN " CHUNK_JOIN
        " WHERE h.tsv @@ x.q AND " CHUNK_FILTER " ORDER BY r DESC, h.id LIMIT $7",
        "sisissi", tq, user, colls, q->doc_id, q->tag, q->language, (int64_t)q->limit);
    if (!r) return rc;
    int m = PQntuples(r);
    double *ranks = rg_malloc_array((size_t)(m ? m : 1), sizeof *ranks);
    if (!ranks) {
        PQclear(r);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    for (int i = 0; i < m; i++)
        ranks[i] = strtod(rg_db_pg_val(r, i, 14), NULL);
    rc = rows(r, RG_OK, read_hit, words, sizeof **out, (void **)out, n, err);
    for (size_t i = 0; !rc && i < *n; i++)
        (*out)[i].rank = ranks[i];
    rg_free(ranks);
    return rc;
}
