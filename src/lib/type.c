/*
 * type.c - the table of resource types. Types are registered rarely and read on every
 * event, so names are written once, before the count that publishes them.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

char ah__type_names[AH_TYPE_MAX][AH_REGISTRY_NAME_SIZE];

_Static_assert(AH_TYPE_MAX == AH_REGISTRY_TYPE_MAX, "type table and registry disagree");
_Static_assert(AH_TYPE_NAME_MAX < AH_REGISTRY_NAME_SIZE, "type names must fit with a NUL");

AH_EXPORT struct ah_registry ah_registry = {
    .magic = AH_REGISTRY_MAGIC,
    .version = AH_REGISTRY_VERSION,
    .type_max = AH_REGISTRY_TYPE_MAX,
    .names = 0, /* set by the constructor: a relocation here would need a dynamic reloc */
    .thread_size = sizeof(struct ah_registry_thread),
    .id_next = AH_ID_ROOT + 1,
    .batch_offset = offsetof(struct ah_thread, batch),
    .stack_offset = offsetof(struct ah_thread, stack),
    .depth_offset = offsetof(struct ah_thread, depth),
    .frame_size = sizeof(struct ah_frame),
    .resource_type_offset = offsetof(ah_resource_t, type),
};

/* What the registry says of the execution stack (registry.h, version 3) must be how libah
 * lays it out: tracers read it from outside, with no help from the thread. */
_Static_assert(offsetof(struct ah_thread, registry) == 0, "offsets count from the registry block");
_Static_assert(sizeof(((struct ah_thread *)0)->stack) == sizeof(uint64_t), "64-bit frame address");
_Static_assert(sizeof(((struct ah_thread *)0)->depth) == sizeof(uint32_t), "32-bit depth");
_Static_assert(offsetof(struct ah_frame, resource) ==
                       offsetof(struct ah_registry_frame, resource) &&
                   offsetof(struct ah_frame, id) == offsetof(struct ah_registry_frame, id) &&
                   offsetof(struct ah_frame, trigger_id) ==
                       offsetof(struct ah_registry_frame, trigger_id),
               "struct ah_frame starts as struct ah_registry_frame");
_Static_assert(sizeof(struct ah_frame) >= sizeof(struct ah_registry_frame), "frame too small");
_Static_assert(sizeof(((ah_resource_t *)0)->type) == sizeof(int32_t), "32-bit resource type");

static pthread_mutex_t type_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor)) static void registry_init(void)
{
    ah_registry.names = (uint64_t)(uintptr_t)ah__type_names;
}

void ah__types_after_fork(void)
{
    pthread_mutex_init(&type_lock, NULL);
}

AH_EXPORT int ah_type(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return -EINVAL;
    size_t len = strnlen(name, AH_TYPE_NAME_MAX + 1);
    if (len > AH_TYPE_NAME_MAX)
        return -ENOSPC;
    pthread_mutex_lock(&type_lock);
    int count = (int)ah_registry.type_count;
    for (int i = 0; i < count; i++) {
        if (strcmp(ah__type_names[i], name) == 0) {
            pthread_mutex_unlock(&type_lock);
            return i;
        }
    }
    if (count >= AH_TYPE_MAX) {
        pthread_mutex_unlock(&type_lock);
        return -ENOSPC;
    }
    memcpy(ah__type_names[count], name, len);
    ah__type_names[count][len] = '\0';
    __atomic_store_n(&ah_registry.type_count, (uint64_t)count + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&type_lock);
    return count;
}

AH_EXPORT const char *ah_type_name(int type)
{
    return ah__type_valid(type) ? ah__type_names[type] : NULL;
}

AH_EXPORT int ah_type_count(void)
{
    return (int)__atomic_load_n(&ah_registry.type_count, __ATOMIC_ACQUIRE);
}
