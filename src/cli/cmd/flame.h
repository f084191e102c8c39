/* flame.h - `ahprof flame`: async flame graphs, async stacks and standard exports (folded
 * stacks, SVG, Chrome trace JSON, speedscope, graphviz DOT) of a recording. */
#ifndef AHP_FLAME_H
#define AHP_FLAME_H

/* argv[0] is "flame". Returns the exit code (AHP_EXIT_* in util.h). */
int ahprof_cmd_flame(int argc, char **argv);

#endif
