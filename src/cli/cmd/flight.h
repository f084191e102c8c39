#ifndef AHP_FLIGHT_H
#define AHP_FLIGHT_H
#include <stdbool.h>

/* `ahprof record --flight SECONDS ...` (record.c hands over when it sees --flight). */
bool ahp_flight_wanted(int argc, char **argv);
int ahprof_cmd_flight(int argc, char **argv);

/* `ahprof dump PID`: ask the flight recorder of PID for a dump now. */
int ahprof_cmd_dump(int argc, char **argv);

#endif
