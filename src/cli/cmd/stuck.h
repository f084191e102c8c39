#ifndef AHP_STUCK_H
#define AHP_STUCK_H
int ahprof_cmd_stuck(int argc, char **argv);
#endif
