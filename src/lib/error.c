/* error.c - messages for libah's negative error codes. */
#include <errno.h>
#include <string.h>

#include "internal.h"

AH_EXPORT const char *ah_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case -EINVAL:
        return "invalid argument (NULL, unknown type or not an initialised resource)";
    case -EBUSY:
        return "resource is live: destroy it before initialising it again";
    case -EIDRM:
        return "resource was destroyed already";
    case -EPROTO:
        return "async stack corrupted: after() does not match the innermost before()";
    case -EALREADY:
        return "resource was resolved already";
    case -ENOSPC:
        return "table full or name too long";
    case -ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}

AH_EXPORT const char *ah_version(void)
{
    return AH_VERSION_STRING;
}
