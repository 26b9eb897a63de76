/*
 * Kept conversations on PostgreSQL (migration 4 and the conversation and
 * signed-in-device operations of db_internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"
#include "db/pg_internal.h"

static const char M4_TABLES[] =
    "CREATE TABLE conversations ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " title text NOT NULL DEFAULT '',"
    " title_auto boolean NOT NULL DEFAULT true,"
    " model text NOT NULL DEFAULT '',"
    " settings text NOT NULL DEFAULT '{}',"
    " folder text NOT NULL DEFAULT '',"
    " tags text NOT NULL DEFAULT '',"
    " archived boolean NOT NULL DEFAULT false,"
    " pinned boolean NOT NULL DEFAULT false,"
    " active_leaf bigint,"
    " main_thread bigint,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', title)) STORED);"
    "CREATE INDEX conversations_list ON conversations(owner_id, pinned DESC, updated_at DESC,"
    " id DESC);"
    "CREATE INDEX conversations_tsv ON conversations USING gin(tsv);"
    "CREATE TABLE threads ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " conv_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " title text NOT NULL DEFAULT '',"
    " root_id bigint,"
    " collapsed boolean NOT NULL DEFAULT false,"
    " summary_id bigint,"
    " created_at bigint NOT NULL);"
    "CREATE INDEX threads_conv ON threads(conv_id, id);"
    "CREATE TABLE messages ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " conv_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " thread_id bigint NOT NULL,"
    " parent_id bigint,"
    " type text NOT NULL CHECK (type IN ('user','assistant','system','tool','summary','note')),"
    " role text NOT NULL CHECK (role IN ('user','assistant','system','tool')),"
    " content text NOT NULL DEFAULT '',"
    " model text NOT NULL DEFAULT '',"
    " settings text NOT NULL DEFAULT '{}',"
    " finish text NOT NULL DEFAULT '',"
    " incomplete boolean NOT NULL DEFAULT false,"
    " prompt_tokens bigint NOT NULL DEFAULT 0,"
    " completion_tokens bigint NOT NULL DEFAULT 0,"
    " duration_ms bigint NOT NULL DEFAULT 0,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    /* a tsvector holds at most 1 MB: the first 256 KiB of a message are searchable */
    " tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', left(content, 262144))) STORED);"
    "CREATE INDEX messages_tree ON messages(conv_id, parent_id);"
    "CREATE INDEX messages_thread ON messages(thread_id);"
    "CREATE INDEX messages_tsv ON messages USING gin(tsv);";

const char *const rg_db_pg_conv_migration[] = {M4_TABLES, NULL};

#define STUB(name, ...)                                                                            \
    int rg_db_pg_##name(__VA_ARGS__)                                                               \
    {                                                                                              \
        return rg_err_set(err, RG_EUNSUPPORTED, "not yet on postgres");                            \
    }
STUB(session_list, void *c, int64_t user_id, int64_t now, struct rg_db_device **out, size_t *n,
     char *err)
STUB(session_revoke_family, void *c, int64_t user_id, const char *family, const char *except,
     int64_t now, int64_t *n, char *err)
STUB(conv_create, void *c, const struct rg_db_conv_new *n, struct rg_db_conv *out, char *err)
STUB(conv_get, void *c, int64_t owner, int64_t id, struct rg_db_conv *out, char *err)
STUB(conv_list, void *c, int64_t owner, const struct rg_db_conv_filter *f,
     const struct rg_db_words *words, struct rg_db_conv **out, size_t *n, bool *more, char *err)
STUB(conv_update, void *c, int64_t owner, int64_t id, const struct rg_db_conv_change *ch,
     struct rg_db_conv *out, char *err)
STUB(conv_delete, void *c, int64_t owner, int64_t id, char *err)
STUB(msg_add, void *c, int64_t owner, const struct rg_db_msg_new *n, struct rg_db_msg *out,
     char *err)
STUB(msg_finish, void *c, int64_t owner, int64_t id, const struct rg_db_msg_end *e,
     struct rg_db_msg *out, char *err)
STUB(msg_get, void *c, int64_t owner, int64_t id, struct rg_db_msg *out, char *err)
STUB(msg_list, void *c, int64_t owner, int64_t conv_id, struct rg_db_msg **out, size_t *n,
     char *err)
STUB(msg_branch, void *c, int64_t owner, int64_t conv_id, int64_t leaf, struct rg_db_msg **out,
     size_t *n, char *err)
STUB(conv_set_active, void *c, int64_t owner, int64_t conv_id, int64_t msg_id, bool descend,
     int64_t *leaf, char *err)
STUB(msg_delete, void *c, int64_t owner, int64_t id, int64_t now, int64_t *n, char *err)
STUB(thread_list, void *c, int64_t owner, int64_t conv_id, struct rg_db_thread **out, size_t *n,
     char *err)
STUB(thread_update, void *c, int64_t owner, int64_t thread_id, const char *title, int collapsed,
     int64_t summary_id, struct rg_db_thread *out, char *err)
STUB(msg_move, void *c, int64_t owner, int64_t msg_id, int64_t thread_id, const char *new_title,
     int64_t now, struct rg_db_thread *out, char *err)
