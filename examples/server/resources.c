/*
 * resources.c - registration of the server's resource types.
 */
#include <stdio.h>
#include <stdlib.h>

#include "resources.h"

struct resource_types resource_types;

static int register_type(const char *name)
{
    int type = ah_type(name);
    if (type < 0) {
        fprintf(stderr, "ah-server: ah_type(%s): %s\n", name, ah_strerror(type));
        exit(1);
    }
    return type;
}

void resource_types_register(void)
{
    resource_types.tcpserver = register_type("TCPSERVER");
    resource_types.tcpconn = register_type("TCPCONN");
    resource_types.req = register_type("REQ");
    resource_types.timer = register_type("TIMER");
    resource_types.work = register_type("WORK");
    resource_types.write = register_type("WRITE");
    resource_types.leak = register_type("LEAK");
    resource_types.call = register_type("CALL");
}

void ah_check_result(int rc, const char *call, const char *file, int line)
{
    if (rc >= 0)
        return;
    fprintf(stderr, "ah-server: %s:%d: %s: %s\n", file, line, call, ah_strerror(rc));
    abort();
}
