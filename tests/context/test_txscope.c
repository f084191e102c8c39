/* The transaction scope (examples/context/txscope.c) on the example server (--db FILE):
 * GET /tx writes an order over the loop thread, a pool thread and a timer with code that is
 * never given the connection (examples/server/orders.c); the transaction commits when the
 * last of those is done, or rolls back if a statement failed or the server stopped first.
 * The database is checked afterwards. */
#include <sqlite3.h>
#include <unistd.h>

#include "context/server_test.h"
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

static long long queryf(const char *path, const char *fmt, unsigned long long id)
{
    char sql[256];
    snprintf(sql, sizeof(sql), fmt, id);
    return query(path, sql);
}

/* What the server wrote for request ID: 1 order row (state 'done'), ITEMS item rows, 1 audit
 * row if committed; nothing at all otherwise. */
static void assert_order(const char *db, unsigned long long id, int committed, long long items)
{
    cr_assert_eq(queryf(db, "SELECT count(*) FROM orders WHERE request_id = %llu", id), committed,
                 "order %llu", id);
    cr_assert_eq(queryf(db, "SELECT count(*) FROM items WHERE request_id = %llu", id),
                 committed ? items : 0, "items of %llu", id);
    cr_assert_eq(queryf(db, "SELECT count(*) FROM audit WHERE request_id = %llu", id), committed,
                 "audit of %llu", id);
    if (committed) {
        cr_assert_eq(queryf(db,
                            "SELECT count(*) FROM orders WHERE request_id = %llu "
                            "AND state = 'done'",
                            id),
                     1);
        cr_assert_eq(queryf(db, "SELECT items FROM orders WHERE request_id = %llu", id), items);
    }
}

static unsigned long long expect_response(struct client *c, const char *want)
{
    char line[256];
    client_line(c, line, sizeof(line));
    cr_assert(strncmp(line, want, strlen(want)) == 0, "'%s', expected '%s'", line, want);
    return response_id(line);
}

CTX_TEST(txscope, server_commits_and_rolls_back)
{
    struct server s;
    char db[128];
    server_init(&s);
    server_file(&s, "db", db, sizeof(db));
    const char *args[] = {"--db", db, NULL};
    server_start(&s, args);
    struct client c;
    client_open(&c, s.port);
    /* One at a time: each transaction holds the database until it ends. */
    client_send(&c, "GET /tx?n=3\n");
    unsigned long long ok1 = expect_response(&c, "200 tx committed items=3 ");
    client_send(&c, "GET /tx?n=5&fail=1\n");
    unsigned long long bad1 = expect_response(&c, "500 tx rolled back error=\"statement failed\" ");
    client_send(&c, "GET /tx?fail=0&n=0\n");
    unsigned long long ok2 = expect_response(&c, "200 tx committed items=0 ");
    client_send(&c, "GET /tx?n=1000&fail=1\n");
    unsigned long long bad2 = expect_response(&c, "500 tx rolled back error=\"statement failed\" ");
    /* Two at once on one connection (one read): the second cannot begin while the first
     * holds the database, and the loop does not wait for the lock. */
    client_send(&c, "GET /tx?n=4\nGET /tx?n=6\n");
    unsigned long long busy = expect_response(&c, "503 busy ");
    unsigned long long ok3 = expect_response(&c, "200 tx committed items=4 ");
    /* Requests of other kinds around a transaction are not part of it. */
    client_send(&c, "GET /work?ms=1\nGET /tx?n=2\nGET /sleep?ms=1\nGET /fast\n");
    unsigned long long ok4 = 0;
    for (int i = 0; i < 4; i++) {
        char line[256];
        client_line(&c, line, sizeof(line));
        if (strncmp(line, "200 tx committed items=2 ", 25) == 0)
            ok4 = response_id(line);
        else
            cr_assert(strncmp(line, "200 ", 4) == 0, "%s", line);
    }
    cr_assert_neq(ok4, 0);
    client_send(&c, "GET /tx?n=1001\nGET /tx?n=1&fail=2\nGET /tx?fail=1\n");
    for (int i = 0; i < 3; i++)
        expect_response(&c, "400 bad request ");
    client_close(&c);
    server_stop(&s);

    assert_order(db, ok1, 1, 3);
    assert_order(db, ok2, 1, 0);
    assert_order(db, ok3, 1, 4);
    assert_order(db, ok4, 1, 2);
    /* Rolled back after the order row and the items had been written. */
    assert_order(db, bad1, 0, 0);
    assert_order(db, bad2, 0, 0);
    assert_order(db, busy, 0, 0);
    cr_assert_eq(query(db, "SELECT count(*) FROM orders"), 4);
    cr_assert_eq(query(db, "SELECT count(*) FROM items"), 3 + 0 + 4 + 2);
    cr_assert_eq(query(db, "SELECT count(*) FROM audit"), 4);
    server_cleanup(&s);
}

/* The server stops with a transaction in flight: its pool task never runs (the only pool
 * thread is busy), the transaction rolls back, and the server still exits cleanly. */
CTX_TEST(txscope, server_stops_with_a_transaction_in_flight)
{
    struct server s;
    char db[128], line[256];
    server_init(&s);
    server_file(&s, "db", db, sizeof(db));
    const char *args[] = {"--db", db, "--threads", "1", NULL};
    server_start(&s, args);
    struct client c;
    client_open(&c, s.port);
    client_send(&c, "GET /work?ms=1500\nGET /tx?n=2\nGET /fast\n");
    /* The answer to /fast: the transaction before it has begun. */
    client_line(&c, line, sizeof(line));
    cr_assert(strncmp(line, "200 fast ", 9) == 0, "%s", line);
    kill(s.pid, SIGTERM);
    server_wait(&s);
    client_close(&c);
    cr_assert_eq(query(db, "SELECT count(*) FROM orders"), 0);
    cr_assert_eq(query(db, "SELECT count(*) FROM items"), 0);
    char path[128];
    char *out = read_all(server_file(&s, "out", path, sizeof(path)));
    cr_assert_not_null(strstr(out, " tx=1 "), "%s", out);
    free(out);
    server_cleanup(&s);
}

/* Without --db, GET /tx says so. */
CTX_TEST(txscope, server_without_db)
{
    struct server s;
    server_init(&s);
    server_start(&s, NULL);
    struct client c;
    client_open(&c, s.port);
    client_send(&c, "GET /tx?n=1\n");
    expect_response(&c, "503 no database ");
    client_close(&c);
    server_stop(&s);
    server_cleanup(&s);
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

static void good_body(void *arg)
{
    (void)arg;
    long long balance = 0;
    cr_assert_eq(
        db_exec("UPDATE accounts SET balance = balance - %lld WHERE name = %Q", 10LL, "alice"), 0);
    cr_assert_eq(db_query_int(&balance, "SELECT balance FROM accounts WHERE name = %Q", "alice"),
                 0);
    cr_assert_eq(balance, 90);
}

CTX_TEST(txscope, synchronous_body)
{
    char a[] = "/tmp/ah-test-bank-d-XXXXXX";
    make_bank(a, 100, 50);
    cr_assert_eq(tx_open(), 0);
    /* Outside any transaction there is no connection to find. */
    long long v;
    cr_assert_eq(db_exec("SELECT 1"), -ENOENT);
    cr_assert_eq(db_query_int(&v, "SELECT 1"), -ENOENT);
    tx_fail("ignored");
    cr_assert_eq(tx_run(a, good_body, NULL, on_done, NULL), 0);
    cr_assert_eq(committed, 1);
    cr_assert_null(error);
    cr_assert_eq(BALANCE(a, "alice"), 90);
    cr_assert_eq(tx_run(a, bad_body, NULL, on_done, NULL), 0);
    /* No asynchronous work: the transaction ended when the body returned. */
    cr_assert_eq(committed, 0);
    cr_assert_str_eq(error, "statement failed");
    cr_assert_eq(BALANCE(a, "alice"), 90);
    cr_assert_eq(tx_run("/nonexistent/dir/db", bad_body, NULL, on_done, NULL), -EIO);
    tx_close();
    unlink(a);
}
