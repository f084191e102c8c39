#ifndef AHP_RECORD_H
#define AHP_RECORD_H
int ahprof_cmd_record(int argc, char **argv);
#endif
