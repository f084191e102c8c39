/*
 * orders.c - GET /tx's business code: SQL only, no connection in sight.
 */
#include <sqlite3.h>
#include <stdio.h>

#include "../context/txscope.h"
#include "orders.h"

int orders_init_db(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db,
                          "CREATE TABLE IF NOT EXISTS orders(request_id INTEGER NOT NULL, "
                          "items INTEGER NOT NULL, state TEXT NOT NULL);"
                          "CREATE TABLE IF NOT EXISTS items(request_id INTEGER NOT NULL, "
                          "seq INTEGER NOT NULL);"
                          "CREATE TABLE IF NOT EXISTS audit(request_id INTEGER NOT NULL, "
                          "note TEXT NOT NULL);",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "ah-server: --db %s: %s\n", path,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

int order_open(uint64_t request_id, unsigned items)
{
    return db_exec("INSERT INTO orders(request_id, items, state) VALUES (%lld, %lld, 'open')",
                   (long long)request_id, (long long)items);
}

int order_add_items(uint64_t request_id, unsigned items)
{
    for (unsigned i = 0; i < items; i++) {
        int rc = db_exec("INSERT INTO items(request_id, seq) VALUES (%lld, %lld)",
                         (long long)request_id, (long long)i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int order_close(uint64_t request_id, int fail)
{
    int rc =
        db_exec("UPDATE orders SET state = 'done' WHERE request_id = %lld", (long long)request_id);
    if (rc < 0)
        return rc;
    /* %Q of NULL writes SQL NULL: the NOT NULL constraint fails, as a real bug would. */
    return db_exec("INSERT INTO audit(request_id, note) VALUES (%lld, %Q)", (long long)request_id,
                   fail ? NULL : "closed");
}
