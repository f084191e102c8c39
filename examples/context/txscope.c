/*
 * txscope.c - a SQLite transaction in a context store, ended when its async work ends.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>

#include "ah.h"
#include "txscope.h"

struct tx {
    sqlite3 *db;
    unsigned long pending; /* the body, plus every live resource created in the transaction */
    int failed;            /* atomic: set from any thread that runs the transaction's work */
    const char *error;     /* atomic, set with FAILED */
    tx_done_cb done;
    void *done_arg;
};

static ah_store_t *tx_store;
static ah_hook_t *tx_hook;

/*
 * Which transaction each resource belongs to, by id: the destroy hook is only given the id.
 * A small chained hash table; only resources created inside a transaction are in it.
 */
#define TX_BUCKETS 256
struct tx_res {
    ah_id_t id;
    struct tx *tx;
    struct tx_res *next;
};
static struct tx_res *buckets[TX_BUCKETS];
static pthread_mutex_t buckets_lock = PTHREAD_MUTEX_INITIALIZER;

static void tx_finish(struct tx *tx)
{
    int commit = !__atomic_load_n(&tx->failed, __ATOMIC_ACQUIRE);
    const char *error = __atomic_load_n(&tx->error, __ATOMIC_ACQUIRE);
    if (commit && sqlite3_exec(tx->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        commit = 0;
        error = "commit failed";
    }
    if (!commit)
        sqlite3_exec(tx->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(tx->db);
    tx_done_cb done = tx->done;
    void *done_arg = tx->done_arg;
    free(tx);
    if (done)
        done(commit, commit ? NULL : error, done_arg);
}

/* The first reason wins. */
static void tx_fail_tx(struct tx *tx, const char *reason)
{
    const char *none = NULL;
    if (__atomic_compare_exchange_n(&tx->error, &none, reason, false, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED))
        __atomic_store_n(&tx->failed, 1, __ATOMIC_RELEASE);
}

static void tx_release(struct tx *tx)
{
    if (__atomic_sub_fetch(&tx->pending, 1, __ATOMIC_ACQ_REL) == 0)
        tx_finish(tx);
}

/* A resource created while a transaction is current is work done for it. */
static void on_init(ah_id_t id, int type, ah_id_t trigger, ah_resource_t *r, void *data)
{
    (void)type, (void)trigger, (void)r, (void)data;
    struct tx *tx = ah_store_get(tx_store);
    if (tx == NULL)
        return;
    struct tx_res *e = malloc(sizeof(*e));
    if (e == NULL) {
        tx_fail_tx(tx, "out of memory"); /* cannot follow the work: do not commit half of it */
        return;
    }
    __atomic_add_fetch(&tx->pending, 1, __ATOMIC_RELAXED);
    e->id = id;
    e->tx = tx;
    pthread_mutex_lock(&buckets_lock);
    e->next = buckets[id % TX_BUCKETS];
    buckets[id % TX_BUCKETS] = e;
    pthread_mutex_unlock(&buckets_lock);
}

static void on_destroy(ah_id_t id, void *data)
{
    (void)data;
    pthread_mutex_lock(&buckets_lock);
    struct tx_res **p = &buckets[id % TX_BUCKETS];
    while (*p && (*p)->id != id)
        p = &(*p)->next;
    struct tx_res *e = *p;
    if (e)
        *p = e->next;
    pthread_mutex_unlock(&buckets_lock);
    if (e) {
        struct tx *tx = e->tx;
        free(e);
        tx_release(tx);
    }
}

int tx_open(void)
{
    ah_hook_callbacks_t cb = {.init = on_init, .destroy = on_destroy};
    tx_store = ah_store_new(NULL);
    tx_hook = ah_hook_new(&cb, NULL);
    if (tx_store == NULL || tx_hook == NULL || ah_hook_enable(tx_hook) < 0) {
        tx_close();
        return -ENOMEM;
    }
    return 0;
}

void tx_close(void)
{
    ah_hook_free(tx_hook);
    tx_hook = NULL;
    ah_store_free(tx_store);
    tx_store = NULL;
}

struct body_call {
    void (*body)(void *);
    void *arg;
};

static void *run_body(void *arg)
{
    struct body_call *b = arg;
    b->body(b->arg);
    return b; /* not NULL: NULL from ah_store_run() means the body did not run */
}

int tx_run(const char *path, void (*body)(void *), void *arg, tx_done_cb done, void *done_arg)
{
    struct tx *tx = calloc(1, sizeof(*tx));
    if (tx == NULL)
        return -ENOMEM;
    /* The transaction's work may run on pool threads: SQLite serialises the calls. */
    if (sqlite3_open_v2(path, &tx->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(tx->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(tx->db);
        free(tx);
        return -EIO;
    }
    tx->pending = 1; /* the body, until it returns */
    tx->done = done;
    tx->done_arg = done_arg;
    struct body_call b = {body, arg};
    if (ah_store_run(tx_store, tx, run_body, &b) == NULL)
        tx_fail_tx(tx, "out of memory"); /* the body never ran: nothing to commit */
    tx_release(tx);
    return 0;
}

static struct tx *current_tx(void)
{
    return ah_store_get(tx_store);
}

void tx_fail(const char *reason)
{
    struct tx *tx = current_tx();
    if (tx)
        tx_fail_tx(tx, reason ? reason : "failed");
}

int db_exec(const char *fmt, ...)
{
    struct tx *tx = current_tx();
    if (tx == NULL)
        return -ENOENT;
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    int rc = sql ? sqlite3_exec(tx->db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        tx_fail("statement failed");
        return -EIO;
    }
    return 0;
}

int db_query_int(long long *out, const char *fmt, ...)
{
    struct tx *tx = current_tx();
    if (tx == NULL)
        return -ENOENT;
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *stmt = NULL;
    int rc = sql ? sqlite3_prepare_v2(tx->db, sql, -1, &stmt, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) {
        tx_fail("query failed");
        return -EIO;
    }
    return 0;
}
