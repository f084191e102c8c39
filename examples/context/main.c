/*
 * main.c - ah-context-demo: the context storage patterns of docs/context.md, runnable.
 *
 *   ah-context-demo reqlog [N]   request-id logging, JSON lines on stdout
 *   ah-context-demo trace [N]    spans with W3C traceparent propagation, JSON lines
 *   ah-context-demo tx           SQLite transactions that commit or roll back
 *   ah-context-demo crumbs [N]   error reports with breadcrumbs, JSON lines
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "breadcrumbs.h"
#include "reqlog.h"
#include "tracer.h"
#include "txscope.h"

/* A database file with two accounts, ALICE and BOB, and an audit table. */
static int make_bank(char *path, long long alice, long long bob)
{
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    char *sql =
        sqlite3_mprintf("CREATE TABLE accounts(name TEXT PRIMARY KEY, balance INTEGER NOT NULL);"
                        "CREATE TABLE audit(id INTEGER PRIMARY KEY, note TEXT);"
                        "INSERT INTO accounts VALUES ('alice', %lld), ('bob', %lld);",
                        alice, bob);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_free(sql);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static void print_bank(const char *label, const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return;
    printf("%s:", label);
    if (sqlite3_prepare_v2(db, "SELECT name, balance FROM accounts ORDER BY name", -1, &st, NULL) ==
        SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            printf(" %s=%lld", sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
        sqlite3_finalize(st);
    }
    printf("\n");
    sqlite3_close(db);
}

static int demo_tx(void)
{
    char bank_a[] = "/tmp/ah-bank-a-XXXXXX", bank_b[] = "/tmp/ah-bank-b-XXXXXX";
    if (make_bank(bank_a, 100, 50) < 0 || make_bank(bank_b, 100, 50) < 0) {
        fprintf(stderr, "cannot create the databases\n");
        return 1;
    }
    print_bank("bank a before", bank_a);
    print_bank("bank b before", bank_b);
    struct transfer t[] = {
        {.db_path = bank_a, .from = "alice", .to = "bob", .amount = 30},
        {.db_path = bank_b, .from = "bob", .to = "alice", .amount = 500},
    };
    int rc = tx_demo(t, 2);
    for (int i = 0; i < 2 && rc == 0; i++)
        printf("transfer %s -> %s %lld on %s: %s%s%s\n", t[i].from, t[i].to, t[i].amount,
               i == 0 ? "bank a" : "bank b", t[i].committed ? "committed" : "rolled back",
               t[i].error ? ": " : "", t[i].error ? t[i].error : "");
    print_bank("bank a after", bank_a);
    print_bank("bank b after", bank_b);
    unlink(bank_a);
    unlink(bank_b);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? atoi(argv[2]) : 4;
    if (n < 1 || n > 1000)
        n = 4;
    int rc = -1;
    if (strcmp(what, "reqlog") == 0)
        rc = reqlog_demo(stdout, n);
    else if (strcmp(what, "trace") == 0)
        rc = tracer_demo(stdout, n, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    else if (strcmp(what, "tx") == 0)
        return demo_tx();
    else if (strcmp(what, "crumbs") == 0)
        rc = crumbs_demo(stdout, n);
    else {
        fprintf(stderr, "usage: %s reqlog|trace|tx|crumbs [N]\n", argv[0]);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", what, strerror(-rc));
        return 1;
    }
    return 0;
}
