/*
 * txscope.h - a SQLite transaction that follows the asynchronous work done inside it.
 *
 * tx_run() opens a connection, BEGINs, and runs a body with the transaction current. The
 * code the body calls (and everything it schedules, on timers or pool threads) reaches the
 * connection through db_exec() and db_query_int(), which find the transaction in a context
 * store: no function is given the connection. The transaction ends when the last piece of
 * asynchronous work started inside it has finished (a hook counts the resources created in
 * its context): COMMIT, or ROLLBACK if any statement failed or tx_fail() was called.
 *
 * The example server uses it with --db FILE for GET /tx (examples/server/orders.c).
 */
#ifndef CONTEXT_TXSCOPE_H
#define CONTEXT_TXSCOPE_H

/* COMMITTED is 1 after COMMIT, 0 after ROLLBACK; ERROR says why (NULL when committed). */
typedef void (*tx_done_cb)(int committed, const char *error, void *arg);

int tx_open(void); /* once, before any transaction: 0 or -ENOMEM */
void tx_close(void);

/* BEGIN a transaction on the database at PATH (its own connection), run BODY(ARG) in it,
 * and call DONE(..., DONE_ARG) once it has ended, from the thread where its last piece of
 * work ended (inside libah's destroy hook). 0, or -ENOMEM / -EIO if it cannot begin (DONE is
 * then not called): also when another transaction holds the database, since an event loop
 * must not wait for a lock. Snapshots and bound callbacks taken inside are not counted as
 * work: release them before the work ends. */
int tx_run(const char *path, void (*body)(void *), void *arg, tx_done_cb done, void *done_arg);

/* Run SQL in the current transaction. FMT is an sqlite3_mprintf() format: %Q quotes a
 * string for SQL, %lld formats an integer (no format attribute: %Q is SQLite's). 0, -ENOENT outside
 * any transaction, -EIO if SQLite failed (the transaction will roll back). */
int db_exec(const char *fmt, ...);
/* Run a query returning one integer into *OUT. Same errors. */
int db_query_int(long long *out, const char *fmt, ...);

/* Make the current transaction roll back with REASON (a static string). */
void tx_fail(const char *reason);

#endif
