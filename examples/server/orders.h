/*
 * orders.h - the business code of GET /tx: an order and its items, written to SQLite by
 * functions that are never given a connection. They reach the current transaction through
 * db_exec() (examples/context/txscope.c), which finds it in a context store, whichever thread
 * or callback they run in.
 *
 * Tables, created by orders_init_db():
 *   orders(request_id, items, state)   one row per committed GET /tx, state 'done'
 *   items(request_id, seq)             N rows per committed GET /tx?n=N
 *   audit(request_id, note NOT NULL)   one row per committed GET /tx
 */
#ifndef SERVER_ORDERS_H
#define SERVER_ORDERS_H

#include <stdint.h>

/* Create the tables in the database at PATH if they do not exist. 0, or -1 after printing. */
int orders_init_db(const char *path);

/* In the transaction, on the loop thread: the order row, state 'open'. */
int order_open(uint64_t request_id, unsigned items);
/* In the transaction, on a pool thread: its N item rows. */
int order_add_items(uint64_t request_id, unsigned items);
/* In the transaction, in a timer: mark the order done and audit it. With FAIL the audit
 * statement breaks a constraint (a real SQLite error), so the transaction rolls back. */
int order_close(uint64_t request_id, int fail);

#endif
