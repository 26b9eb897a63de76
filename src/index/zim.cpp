// The ZIM reader: libzim's C++ archive walked entry by entry behind the C
// API of zim.h. Exceptions never cross into C.
#include "zim.h"

#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <zim/archive.h>
#include <zim/entry.h>
#include <zim/item.h>

// Entries are taken by cluster order (the archive's efficient order: each
// compressed cluster is decompressed once) by index, so the walk is a number.
struct rg_zim {
    zim::Archive archive;
    zim::entry_index_type next = 0, count = 0;
    std::string language, path, title;
    zim::Blob blob;
    explicit rg_zim(const char *p) : archive(p), count(archive.getEntryCount()) {}
};

static void set_err(char *err, size_t n, const char *what)
{
    if (err && n) std::snprintf(err, n, "ZIM: %s", what);
}

extern "C" struct rg_zim *rg_zim_open(const char *path, char *err, size_t errsz)
{
    try {
        rg_zim *z = new rg_zim(path);
        try {
            z->language = z->archive.getMetadata("Language");
        } catch (...) {
        }
        return z;
    } catch (const std::exception &e) {
        set_err(err, errsz, e.what());
    } catch (...) {
        set_err(err, errsz, "cannot open the archive");
    }
    return nullptr;
}

extern "C" uint64_t rg_zim_entry_count(const struct rg_zim *z)
{
    try {
        return z->archive.getEntryCount();
    } catch (...) {
        return 0;
    }
}

extern "C" const char *rg_zim_language(const struct rg_zim *z)
{
    return z->language.c_str();
}

extern "C" int rg_zim_next(struct rg_zim *z, uint64_t max_bytes, struct rg_zim_article *a,
                           char *err, size_t errsz)
{
    try {
        for (;;) {
            if (z->next >= z->count) return 0;
            zim::Entry e = z->archive.getEntryByClusterOrder(z->next++);
            if (e.isRedirect()) continue;
            zim::Item item = e.getItem();
            std::string mime = item.getMimetype();
            if (mime.compare(0, 9, "text/html") != 0) continue;
            z->path = e.getPath();
            z->title = e.getTitle();
            std::memset(a, 0, sizeof *a);
            a->path = z->path.c_str();
            a->title = z->title.c_str();
            if (item.getSize() > max_bytes) {
                a->too_big = 1;
                z->blob = zim::Blob();
                return 1;
            }
            z->blob = item.getData();
            a->data = z->blob.data();
            a->len = z->blob.size();
            return 1;
        }
    } catch (const std::exception &e) {
        set_err(err, errsz, e.what());
    } catch (...) {
        set_err(err, errsz, "read error");
    }
    return -1;
}

extern "C" void rg_zim_close(struct rg_zim *z)
{
    delete z;
}
