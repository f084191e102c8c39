/* The transaction scope (examples/context/txscope.c): business code that never sees the
 * connection commits or rolls back a real SQLite transaction, across a pool thread and a
 * timer, with two transactions interleaved on one loop. */
#include <sqlite3.h>
#include <unistd.h>

#include "context/ctx_test.h"
#include "txscope.h"

static void make_bank(char *path, long long alice, long long bob)
{
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *sql =
        sqlite3_mprintf("CREATE TABLE accounts(name TEXT PRIMARY KEY, balance INTEGER NOT NULL);"
                        "CREATE TABLE audit(id INTEGER PRIMARY KEY, note TEXT);"
                        "INSERT INTO accounts VALUES ('alice', %lld), ('bob', %lld);",
                        alice, bob);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_free(sql);
    sqlite3_close(db);
}

static long long query(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

#define BALANCE(path, who) query(path, "SELECT balance FROM accounts WHERE name = '" who "'")
#define AUDIT_ROWS(path) query(path, "SELECT count(*) FROM audit")

CTX_TEST(txscope, commit_and_rollback_interleaved)
{
    char a[] = "/tmp/ah-test-bank-a-XXXXXX", b[] = "/tmp/ah-test-bank-b-XXXXXX";
    make_bank(a, 100, 50);
    make_bank(b, 100, 50);
    struct transfer t[] = {
        {.db_path = a, .from = "alice", .to = "bob", .amount = 30},
        {.db_path = b, .from = "bob", .to = "alice", .amount = 500},
    };
    cr_assert_eq(tx_demo(t, 2), 0);
    cr_assert(t[0].done && t[1].done);
    /* Committed: debit, credit and both audit rows, all from code without the connection. */
    cr_assert_eq(t[0].committed, 1);
    cr_assert_null(t[0].error);
    cr_assert_eq(BALANCE(a, "alice"), 70);
    cr_assert_eq(BALANCE(a, "bob"), 80);
    cr_assert_eq(AUDIT_ROWS(a), 2);
    /* Rolled back after the debit had been written: nothing of it is left. */
    cr_assert_eq(t[1].committed, 0);
    cr_assert_str_eq(t[1].error, "insufficient funds");
    cr_assert_eq(BALANCE(b, "alice"), 100);
    cr_assert_eq(BALANCE(b, "bob"), 50);
    cr_assert_eq(AUDIT_ROWS(b), 0);
    unlink(a);
    unlink(b);
}

CTX_TEST(txscope, single_transfer_and_outside)
{
    char a[] = "/tmp/ah-test-bank-c-XXXXXX";
    make_bank(a, 100, 50);
    struct transfer t = {.db_path = a, .from = "alice", .to = "bob", .amount = 10};
    cr_assert_eq(tx_demo(&t, 1), 0);
    cr_assert_eq(t.committed, 1);
    cr_assert_eq(BALANCE(a, "alice"), 90);
    cr_assert_eq(tx_open(), 0);
    cr_assert_eq(db_exec("SELECT 1"), -ENOENT); /* outside any transaction */
    tx_close();
    unlink(a);
}

static int committed = -1;
static const char *error;

static void on_done(int c, const char *e, void *arg)
{
    (void)arg;
    committed = c;
    error = e;
}

static void bad_body(void *arg)
{
    (void)arg;
    cr_assert_eq(db_exec("UPDATE accounts SET balance = 0 WHERE name = %Q", "alice"), 0);
    cr_assert_eq(db_exec("UPDATE nosuchtable SET x = 1"), -EIO);
}

CTX_TEST(txscope, synchronous_body)
{
    char a[] = "/tmp/ah-test-bank-d-XXXXXX";
    make_bank(a, 100, 50);
    cr_assert_eq(tx_open(), 0);
    cr_assert_eq(tx_run(a, bad_body, NULL, on_done, NULL), 0);
    /* No asynchronous work: the transaction ended when the body returned. */
    cr_assert_eq(committed, 0);
    cr_assert_str_eq(error, "statement failed");
    cr_assert_eq(BALANCE(a, "alice"), 100);
    cr_assert_eq(tx_run("/nonexistent/dir/db", bad_body, NULL, on_done, NULL), -EIO);
    tx_close();
    unlink(a);
}
