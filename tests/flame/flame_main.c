/* flame_main.c - `ahprof flame` on its own, for the flame tests: the same code as the flame
 * command of build/ahprof, also built with ASan+UBSan. argv[1] may be "flame" (like ahprof's
 * own command line) or the first option. */
#include <string.h>

#include "cmd/flame.h"
#include "common/util.h"

int main(int argc, char **argv)
{
    /* Standard output is checked where ahprof's main checks it. */
    if (argc > 1 && strcmp(argv[1], "flame") == 0)
        return ahp_stdout_finish(ahprof_cmd_flame(argc - 1, argv + 1));
    argv[0] = "flame";
    return ahp_stdout_finish(ahprof_cmd_flame(argc, argv));
}
