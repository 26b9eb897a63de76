#include "db/db_internal.h"

/* Migration placeholder (filled by the module's own work). */
const char *const rg_db_pg_msgvec_migration[] = {"SELECT 1", NULL};
