#include "db/db_internal.h"

/* Migration placeholder (filled by the module's own work). */
const char rg_db_sqlite_mem_migration[] = "SELECT 1;";
