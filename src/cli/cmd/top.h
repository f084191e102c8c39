#ifndef AHP_TOP_H
#define AHP_TOP_H
int ahprof_cmd_top(int argc, char **argv);
#endif
